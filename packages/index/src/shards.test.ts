import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromF16Array, randomArray, toF16Array } from '@llara/gpu';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FlatIndex } from './flat-index.ts';
import { addShards, readManifest, readShards, ShardWriter } from './shards.ts';

let dir: string;
beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'llara-shards-')), 'emb');
});
afterEach(async () => {
  await rm(join(dir, '..'), { recursive: true, force: true });
});

const d = 5;
const ids = Array.from({ length: 23 }, (_, i) => `doc-${i}`);
const rows = randomArray(23 * d, 1);

async function collect(opts?: { allowIncomplete?: boolean }) {
  const out = { ids: [] as string[], vectors: [] as number[], shards: 0 };
  for await (const s of readShards(dir, opts)) {
    out.ids.push(...s.ids);
    out.vectors.push(...s.vectors);
    out.shards++;
  }
  return out;
}

describe('ShardWriter and readShards', () => {
  it('round-trips f32 embeddings through shards of a fixed size', async () => {
    const w = await ShardWriter.open(dir, { dims: d, shardRows: 10 });
    await w.add(ids.slice(0, 7), rows.subarray(0, 7 * d));
    await w.add(ids.slice(7), rows.subarray(7 * d));
    expect(w.rowsWritten).toBe(20);
    const m = await w.finish();
    expect(m.shards.map((s) => [s.file, s.ids, s.rows])).toEqual([
      ['shard-00000.npy', 'shard-00000.ids.json', 10],
      ['shard-00001.npy', 'shard-00001.ids.json', 10],
      ['shard-00002.npy', 'shard-00002.ids.json', 3],
    ]);
    expect((await readManifest(dir)).complete).toBe(true);
    expect((await readdir(dir)).sort()).toEqual([
      'manifest.json',
      'shard-00000.ids.json',
      'shard-00000.npy',
      'shard-00001.ids.json',
      'shard-00001.npy',
      'shard-00002.ids.json',
      'shard-00002.npy',
    ]);
    const got = await collect();
    expect(got.shards).toBe(3);
    expect(got.ids).toEqual(ids);
    expect(new Float32Array(got.vectors)).toEqual(rows);
  });

  it('stores f16 and builds an index equal to one built from the rounded vectors', async () => {
    const w = await ShardWriter.open(dir, { dims: d, dtype: 'f16', shardRows: 8 });
    await w.add(ids, rows);
    await w.finish();
    for await (const s of readShards(dir)) expect(s.raw).toBeInstanceOf(Uint16Array);
    const index = new FlatIndex(d, { dtype: 'f16' });
    expect(await addShards(index, dir)).toBe(23);
    const direct = new FlatIndex(d);
    direct.add(ids, fromF16Array(toF16Array(rows)));
    const q = randomArray(2 * d, 2);
    expect(index.searchSync(q, 7)).toEqual(direct.searchSync(q, 7));
  });

  it('resumes an interrupted run after its last whole shard, and refuses to read it before', async () => {
    const first = await ShardWriter.open(dir, { dims: d, shardRows: 10 });
    await first.add(ids.slice(0, 15), rows.subarray(0, 15 * d)); // one shard written, five rows lost
    await expect(collect()).rejects.toThrow(/incomplete \(1 shards written/);
    expect((await collect({ allowIncomplete: true })).ids).toEqual(ids.slice(0, 10));

    const again = await ShardWriter.open(dir, { dims: d, shardRows: 10 });
    expect(again.rowsWritten).toBe(10);
    const todo = ids.map((_, i) => i).filter((i) => !again.has(ids[i]));
    expect(todo[0]).toBe(10);
    await expect(again.add([ids[3]], rows.subarray(0, d))).rejects.toThrow(
      `The id "doc-3" was already written to ${dir}.`,
    );
    await again.add(
      todo.map((i) => ids[i]),
      rows.subarray(10 * d),
    );
    await again.finish();
    const got = await collect();
    expect(got.ids).toEqual(ids);
    expect(new Float32Array(got.vectors)).toEqual(rows);
    await expect(ShardWriter.open(dir, { dims: d })).rejects.toThrow(/already complete/);
    await expect(ShardWriter.open(dir, { dims: d + 1, resume: true })).rejects.toThrow(/already complete/);
  });

  it('names the file when a shard is damaged, missing or inconsistent', async () => {
    const w = await ShardWriter.open(dir, { dims: d, shardRows: 10 });
    await w.add(ids, rows);
    await w.finish();
    const npy = join(dir, 'shard-00001.npy');
    const bytes = await readFile(npy);
    bytes[bytes.length - 1] ^= 1;
    await writeFile(npy, bytes);
    await expect(collect()).rejects.toThrow(
      `Embeddings shard ${npy} does not match the sha256 in its manifest`,
    );
    await rm(npy);
    await expect(collect()).rejects.toThrow(`Embeddings shard ${npy} cannot be read (it does not exist).`);
    const manifest = join(dir, 'manifest.json');
    await writeFile(manifest, '{"format": "llara-embeddings", "version": 1, "dims": 0}');
    await expect(collect()).rejects.toThrow(`Embeddings manifest ${manifest} has an invalid "dims" field.`);
    await writeFile(manifest, '{not json');
    await expect(collect()).rejects.toThrow(`Embeddings manifest ${manifest} is not valid JSON.`);
  });

  it('refuses a different shape when resuming, and repeated ids within a run', async () => {
    const w = await ShardWriter.open(dir, { dims: d, shardRows: 4 });
    await w.add(ids.slice(0, 4), rows.subarray(0, 4 * d));
    await expect(ShardWriter.open(dir, { dims: d, dtype: 'f16' })).rejects.toThrow(
      `Embeddings in ${dir} hold 5-dimensional f32 vectors, not 5-dimensional f16; use another directory.`,
    );
    await expect(w.add(['x', 'x'], rows.subarray(0, 2 * d))).rejects.toThrow(
      'The id "x" was already written',
    );
    const fresh = await ShardWriter.open(dir, { dims: d + 1, resume: false });
    expect(fresh.rowsWritten).toBe(0);
  });
});
