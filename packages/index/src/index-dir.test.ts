import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomArray } from '@llara/gpu';
import { afterAll, describe, expect, it } from 'vitest';
import { FlatIndex } from './flat-index.ts';
import { saveIndex } from './index-dir.ts';
import { loadIndex } from './index-dir-load.ts';
import { IvfIndex } from './ivf.ts';

const tmp = mkdtempSync(join(tmpdir(), 'index-dir-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function makeIndex(dtype: 'f32' | 'f16', n = 50, d = 8): FlatIndex {
  const index = new FlatIndex(d, { dtype });
  index.add(
    Array.from({ length: n }, (_, i) => `id ${i} "é"`),
    randomArray(n * d, 3),
  );
  return index;
}

async function savedCopy(name: string): Promise<string> {
  const dir = join(tmp, name);
  await saveIndex(dir, makeIndex('f32'));
  return dir;
}

describe('saveIndex / loadIndex', () => {
  it('round-trips f32 and f16 indexes, ids and search results', async () => {
    for (const dtype of ['f32', 'f16'] as const) {
      const index = makeIndex(dtype);
      index.remove(['id 3 "é"']);
      const dir = join(tmp, `rt-${dtype}`, 'nested');
      const header = await saveIndex(dir, index);
      expect(header).toMatchObject({
        format: 'llara-vector-index',
        version: 1,
        dims: 8,
        dtype,
        count: 49,
        metric: 'ip',
      });
      expect(header.files.vectors.bytes).toBe(49 * 8 * (dtype === 'f32' ? 4 : 2));
      const loaded = await loadIndex(dir);
      expect(loaded.dtype).toBe(dtype);
      expect(loaded.ids).toEqual(index.ids);
      const q = randomArray(3 * 8, 4);
      expect(await loaded.search(q, 7)).toEqual(await index.search(q, 7));
      expect(readdirSync(join(tmp, `rt-${dtype}`))).toEqual(['nested']); // no temp dirs left behind
    }
  });

  it('replaces an earlier saved index, but never an unrelated directory', async () => {
    const dir = await savedCopy('replace');
    const small = new FlatIndex(2);
    small.add(['x'], new Float32Array([1, 2]));
    await saveIndex(dir, small);
    expect((await loadIndex(dir)).ids).toEqual(['x']);
    expect(readdirSync(tmp).filter((f) => f.includes('replace'))).toEqual(['replace']);
    const other = join(tmp, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'keep me');
    await expect(saveIndex(other, small)).rejects.toThrow(
      `Refusing to replace ${other}: it exists and is not a saved index (it has no index.json).`,
    );
    expect(readFileSync(join(other, 'notes.txt'), 'utf8')).toBe('keep me');
  });

  it('names the damaged file: truncated, tampered, missing', async () => {
    const truncated = await savedCopy('truncated');
    truncateSync(join(truncated, 'vectors.bin'), 100);
    await expect(loadIndex(truncated)).rejects.toThrow(
      `Index file ${join(truncated, 'vectors.bin')} is truncated: index.json says 1600 bytes, found 100.`,
    );
    const tampered = await savedCopy('tampered');
    const bytes = readFileSync(join(tampered, 'vectors.bin'));
    bytes[17] ^= 1;
    writeFileSync(join(tampered, 'vectors.bin'), bytes);
    await expect(loadIndex(tampered)).rejects.toThrow(
      `Index file ${join(tampered, 'vectors.bin')} is corrupt: its sha256 does not match index.json.`,
    );
    const missing = await savedCopy('missing');
    rmSync(join(missing, 'ids.json'));
    await expect(loadIndex(missing)).rejects.toThrow(`Index file ${join(missing, 'ids.json')} is missing.`);
    await expect(loadIndex(join(tmp, 'nothing'))).rejects.toThrow(
      `No saved index at ${join(tmp, 'nothing')}: ${join(tmp, 'nothing', 'index.json')} does not exist.`,
    );
  });

  it('rejects a header of another version, or one that is not JSON or is inconsistent', async () => {
    const dir = await savedCopy('header');
    const path = join(dir, 'index.json');
    const header = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...header, version: 2 }));
    await expect(loadIndex(dir)).rejects.toThrow(
      `Index file ${path} has version 2, and this reader supports version 1 only.`,
    );
    writeFileSync(path, JSON.stringify({ ...header, count: 51 }));
    await expect(loadIndex(dir)).rejects.toThrow(
      `Index file ${path} is inconsistent: 51 × 8 f32 values need 1632 bytes, not 1600.`,
    );
    writeFileSync(path, JSON.stringify({ ...header, dtype: 'bf16' }));
    await expect(loadIndex(dir)).rejects.toThrow(`Index file ${path} has an invalid "dtype" field.`);
    writeFileSync(path, JSON.stringify({ ...header, format: 'faiss' }));
    await expect(loadIndex(dir)).rejects.toThrow(`Index file ${path} is not a llara-vector-index header.`);
    writeFileSync(path, '{"format": ');
    await expect(loadIndex(dir)).rejects.toThrow(`Index file ${path} is not valid JSON.`);
  });
});

describe('saveIndex / loadIndex with IVF indexes', () => {
  const d = 8;
  const n = 120;
  const ids = Array.from({ length: n }, (_, i) => `doc-${i}`);
  const vectors = randomArray(n * d, 21);

  it('round-trips the lists, centroids and nprobe: the same results at every nprobe', async () => {
    for (const dtype of ['f32', 'f16'] as const) {
      const ivf = IvfIndex.build(ids, vectors, d, { nlist: 6, nprobe: 2, dtype, seed: 3 });
      ivf.remove(['doc-7']);
      const dir = join(tmp, `ivf-${dtype}`);
      const header = await saveIndex(dir, ivf);
      expect(header).toMatchObject({ kind: 'ivf', nlist: 6, nprobe: 2, count: n - 1, dims: d, dtype });
      const loaded = await loadIndex(dir);
      expect(loaded).toBeInstanceOf(IvfIndex);
      const back = loaded as IvfIndex;
      expect(back.nprobe).toBe(2);
      expect(back.listSizes()).toEqual(ivf.listSizes());
      expect(back.getCentroids()).toEqual(ivf.getCentroids());
      expect(back.has('doc-7')).toBe(false);
      const q = randomArray(5 * d, 22);
      for (const nprobe of [1, 2, 6])
        expect(back.searchSync(q, 9, nprobe)).toEqual(ivf.searchSync(q, 9, nprobe));
      // Adding after loading assigns by the saved centroids, as the original would.
      const extra = randomArray(2 * d, 23);
      back.add(['new-a', 'new-b'], extra);
      ivf.add(['new-a', 'new-b'], extra);
      expect(back.listSizes()).toEqual(ivf.listSizes());
    }
  });

  it('names the damaged IVF file, and refuses lists that do not add up', async () => {
    const ivf = IvfIndex.build(ids, vectors, d, { nlist: 4, seed: 1 });
    const dir = join(tmp, 'ivf-damaged');
    await saveIndex(dir, ivf);
    const centroids = join(dir, 'centroids.bin');
    const bytes = readFileSync(centroids);
    bytes[5] ^= 0xff;
    writeFileSync(centroids, bytes);
    await expect(loadIndex(dir)).rejects.toThrow(
      `Index file ${centroids} is corrupt: its sha256 does not match index.json.`,
    );

    await saveIndex(dir, ivf);
    // A consistent but wrong lists.bin (sizes moved between lists, checksum updated): refused by count.
    const header = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
    const lists = new Uint32Array([1, 1, 1, 1]);
    writeFileSync(join(dir, 'lists.bin'), lists);
    header.files.lists.sha256 = createHash('sha256').update(new Uint8Array(lists.buffer)).digest('hex');
    writeFileSync(join(dir, 'index.json'), JSON.stringify(header));
    await expect(loadIndex(dir)).rejects.toThrow(
      `Index file ${join(dir, 'lists.bin')} lists rows that do not add up to ${n}.`,
    );
  });
});
