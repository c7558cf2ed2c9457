import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom } from '@llara/gpu';
import { loadIndex, ShardWriter, writeNpy } from '@llara/index/node';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir, writeJsonl } from './test-harness.ts';

function vectors(rows: number, dims: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: rows * dims }, () => 2 * rand() - 1);
}

async function npyWithIds(dir: string, name: string, ids: string[], dims: number, seed: number) {
  const data = vectors(ids.length, dims, seed);
  const file = join(dir, `${name}.npy`);
  await writeNpy(file, { dtype: 'f4', shape: [ids.length, dims], data });
  writeFileSync(join(dir, `${name}.ids.json`), JSON.stringify(ids));
  return { file, data };
}

describe('llara index build', () => {
  it('builds from a .npy with its ids.json, or with --ids as text, in f32 and f16', async () => {
    const dir = tempDir();
    const ids = ['a', 'b', 'c', 'd'];
    const { file, data } = await npyWithIds(dir, 'emb', ids, 6, 1);
    const r = await runCli(['index', 'build', '--embeddings', file, '--out', join(dir, 'idx')]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({
      out: join(dir, 'idx'),
      count: 4,
      dims: 6,
      dtype: 'f32',
      kind: 'flat',
    });
    const index = await loadIndex(join(dir, 'idx'));
    expect(index.ids).toEqual(ids);
    expect(index.get('c')).toEqual(data.slice(12, 18));

    writeFileSync(join(dir, 'ids.txt'), 'w\nx\ny\nz\n');
    const half = await runCli([
      'index',
      'build',
      '--embeddings',
      file,
      '--ids',
      join(dir, 'ids.txt'),
      '--out',
      join(dir, 'idx16'),
      '--dtype',
      'f16',
    ]);
    expect(half.code, half.err).toBe(0);
    const index16 = await loadIndex(join(dir, 'idx16'));
    expect(index16.dtype).toBe('f16');
    expect(index16.ids).toEqual(['w', 'x', 'y', 'z']);
    const y = index16.get('y')!;
    for (let i = 0; i < 6; i++) expect(Math.abs(y[i] - data[12 + i])).toBeLessThanOrEqual(2 ** -11);
  });

  it('builds from several shard directories and keeps the passage texts', async () => {
    const dir = tempDir();
    const all = vectors(5, 4, 2);
    const ids = ['p0', 'p1', 'p2', 'p3', 'p4'];
    for (const [part, rows] of [
      [0, [0, 2, 4]],
      [1, [1, 3]],
    ] as const) {
      const w = await ShardWriter.open(join(dir, `emb-${part}`), { dims: 4, shardRows: 2 });
      for (const r of rows) await w.add([ids[r]], all.slice(r * 4, r * 4 + 4));
      await w.finish();
    }
    const corpus = writeJsonl(
      join(dir, 'corpus.jsonl'),
      ids.map((id, k) =>
        k === 1 ? { _id: id, title: 'T', text: `text ${k}` } : { _id: id, text: `text ${k}` },
      ),
    );
    const r = await runCli([
      'index',
      'build',
      '--embeddings',
      join(dir, 'emb-0'),
      join(dir, 'emb-1'),
      '--texts',
      corpus,
      '--out',
      join(dir, 'idx'),
    ]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ count: 5, dims: 4, texts: 5 });
    const index = await loadIndex(join(dir, 'idx'));
    for (const [k, id] of ids.entries()) expect(index.get(id)).toEqual(all.slice(k * 4, k * 4 + 4));
    const texts = readFileSync(join(dir, 'idx', 'texts.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(texts[1]).toEqual({ id: 'p1', title: 'T', text: 'text 1' });
  });

  it('refuses mismatched ids counts, dims, repeated ids and missing files in one sentence', async () => {
    const dir = tempDir();
    const a = await npyWithIds(dir, 'a', ['x', 'y', 'z'], 4, 3);
    const b = await npyWithIds(dir, 'b', ['u', 'v'], 5, 4);
    const c = await npyWithIds(dir, 'c', ['x'], 4, 5);
    writeFileSync(join(dir, 'two.json'), '["p", "q"]');
    const out = join(dir, 'idx');
    const cases: [string[], RegExp][] = [
      [
        ['--embeddings', a.file, '--ids', join(dir, 'two.json')],
        /two\.json has 2 ids but .*a\.npy has 3 rows\./,
      ],
      [
        ['--embeddings', a.file, b.file],
        /b\.npy holds 5-dimensional vectors but earlier embeddings have 4\./,
      ],
      [['--embeddings', a.file, c.file], /c\.npy: The id "x" is already in the index\./],
      [['--embeddings', join(dir, 'nope.npy')], /The embeddings path .*nope\.npy does not exist\./],
      [['--embeddings', join(dir, 'two.json')], /is neither a \.npy file nor a shard directory\./],
      [['--embeddings', dir], /manifest\.json cannot be read/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['index', 'build', ...args, '--out', out]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err).toMatch(message);
    }
    writeFileSync(join(dir, 'lone.npy'), readFileSync(a.file));
    const r = await runCli(['index', 'build', '--embeddings', join(dir, 'lone.npy'), '--out', out]);
    expect(r.err).toMatch(/lone\.npy has no .*lone\.ids\.json beside it; pass its ids with --ids\./);
  });
});
