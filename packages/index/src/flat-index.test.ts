import { fromF16Array, randomArray, toF16Array } from '@llara/gpu';
import { describe, expect, it } from 'vitest';
import { FlatIndex } from './flat-index.ts';
import { compareHits, type SearchHit } from './ranking.ts';

/** The specification: score every row in f64, round to f32, full sort by the ranking rule, cut at k. */
function reference(
  ids: string[],
  rows: Float32Array,
  queries: Float32Array,
  d: number,
  k: number,
): SearchHit[][] {
  const out: SearchHit[][] = [];
  for (let q = 0; q < queries.length / d; q++) {
    const hits = ids.map((id, r) => {
      let s = 0;
      for (let j = 0; j < d; j++) s += queries[q * d + j] * rows[r * d + j];
      return { id, score: Math.fround(s) };
    });
    out.push(hits.sort(compareHits).slice(0, k));
  }
  return out;
}

function dataset(n: number, d: number, seed: number) {
  const ids = Array.from({ length: n }, (_, i) => `doc-${i}`);
  const rows = randomArray(n * d, seed);
  // Copy row 0 into rows 1..3 so that exact score ties must follow the id rule.
  for (let r = 1; r <= 3; r++) rows.copyWithin(r * d, 0, d);
  return { ids, rows };
}

describe('FlatIndex', () => {
  const d = 64;
  const { ids, rows } = dataset(1400, d, 1);
  const queries = randomArray(5 * d, 2);

  it('matches a brute-force sort, ties by id descending (f32)', async () => {
    const index = new FlatIndex(d);
    index.add(ids.slice(0, 700), rows.subarray(0, 700 * d));
    index.add(ids.slice(700), rows.subarray(700 * d));
    expect(index.size).toBe(1400);
    expect(await index.search(queries, 10)).toEqual(reference(ids, rows, queries, d, 10));
    // A query equal to row 0 puts the four identical rows first, ordered doc-3, doc-2, doc-1, doc-0.
    const [top] = await index.search(rows.slice(0, d), 4);
    expect(top.map((h) => h.id)).toEqual(['doc-3', 'doc-2', 'doc-1', 'doc-0']);
  });

  it('stores f16 and scores the rounded vectors', async () => {
    const index = new FlatIndex(d, { dtype: 'f16' });
    index.add(ids, rows);
    const rounded = fromF16Array(toF16Array(rows));
    expect(await index.search(queries, 25)).toEqual(reference(ids, rounded, queries, d, 25));
    expect(index.get('doc-5')).toEqual(rounded.slice(5 * d, 6 * d));
  });

  it('returns everything when k exceeds the size, and nothing from an empty index', async () => {
    const index = new FlatIndex(2);
    expect(await index.search(new Float32Array([1, 0]), 3)).toEqual([[]]);
    index.add(['a', 'b', 'c'], new Float32Array([1, 0, 0, 1, 2, 0]));
    // scores for [1, 0.5]: a 1, b 0.5, c 2
    const [hits] = await index.search(new Float32Array([1, 0.5]), 100);
    expect(hits).toEqual([
      { id: 'c', score: 2 },
      { id: 'a', score: 1 },
      { id: 'b', score: 0.5 },
    ]);
  });

  it('removes vectors and accepts their ids again', async () => {
    const index = new FlatIndex(d);
    index.add(ids, rows);
    expect(index.remove(['doc-0', 'doc-1399', 'missing', 'doc-0'])).toBe(2);
    expect(index.size).toBe(1398);
    expect(index.has('doc-0')).toBe(false);
    const keep = ids.map((_, i) => i).filter((i) => i !== 0 && i !== 1399);
    const keptRows = new Float32Array(keep.length * d);
    for (const [i, r] of keep.entries()) keptRows.set(rows.subarray(r * d, r * d + d), i * d);
    const keptIds = keep.map((i) => ids[i]);
    expect(await index.search(queries, 10)).toEqual(reference(keptIds, keptRows, queries, d, 10));
    index.add(['doc-0'], rows.slice(0, d));
    expect(index.get('doc-0')).toEqual(rows.slice(0, d));
  });

  it('rejects bad shapes, values, ids and k in one sentence', async () => {
    const index = new FlatIndex(2);
    expect(() => index.add(['a'], new Float32Array(3))).toThrow(
      'The vectors to add hold 3 values, which is not a multiple of the 2 dimensions.',
    );
    expect(() => index.add(['a', 'b'], new Float32Array(2))).toThrow(
      'Got 2 ids for 1 vectors of 2 dimensions.',
    );
    expect(() => index.add(['a'], new Float32Array([0, Number.NaN]))).toThrow(
      'The vectors to add hold a non-finite value (NaN) in row 0.',
    );
    expect(() => index.add(['a', 'a'], new Float32Array(4))).toThrow('The id "a" is already in the index.');
    index.add(['a'], new Float32Array(2));
    expect(() => index.add(['a'], new Float32Array(2))).toThrow('The id "a" is already in the index.');
    await expect(index.search(new Float32Array(2), 0)).rejects.toThrow(
      'k must be a positive integer, got 0.',
    );
    await expect(index.search(new Float32Array(3), 1)).rejects.toThrow(
      'The queries hold 3 values, which is not a multiple of the 2 dimensions.',
    );
    expect(() => new FlatIndex(0)).toThrow('Vector dimensions must be a positive integer, got 0.');
  });
});
