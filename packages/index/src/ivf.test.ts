import { randomArray, seededRandom } from '@llara/gpu';
import { describe, expect, it } from 'vitest';
import { FlatIndex } from './flat-index.ts';
import { IvfIndex } from './ivf.ts';
import { kmeans, normalizeRows } from './kmeans.ts';
import type { SearchHit } from './ranking.ts';

/** `n` unit vectors scattered (noise `spread`) around `centers` random unit directions. */
function clustered(n: number, d: number, centers: Float32Array, spread: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  const k = centers.length / d;
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(rand() * k);
    for (let j = 0; j < d; j++) out[i * d + j] = centers[c * d + j] + spread * (rand() * 2 - 1);
  }
  return normalizeRows(out, d);
}

function recallAt(got: SearchHit[][], exact: SearchHit[][]): number {
  let hits = 0;
  let total = 0;
  got.forEach((hs, q) => {
    const truth = new Set(exact[q].map((h) => h.id));
    hits += hs.filter((h) => truth.has(h.id)).length;
    total += truth.size;
  });
  return hits / total;
}

const d = 32;
const centers = normalizeRows(randomArray(16 * d, 11), d);

describe('kmeans', () => {
  it('recovers well separated clusters, deterministically for a seed', () => {
    const x = clustered(800, d, centers, 0.05, 12);
    const a = kmeans(x, d, 16, { seed: 5 });
    expect(kmeans(x, d, 16, { seed: 5 }).centroids).toEqual(a.centroids);
    // Every true center has a centroid within cosine 0.98.
    for (let c = 0; c < 16; c++) {
      let best = -1;
      for (let m = 0; m < 16; m++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += centers[c * d + j] * a.centroids[m * d + j];
        best = Math.max(best, s);
      }
      expect(best, `center ${c}`).toBeGreaterThan(0.98);
    }
    expect(() => kmeans(x.subarray(0, 3 * d), d, 4)).toThrow(
      'k-means needs at least k = 4 points to train on, got 3.',
    );
  });
});

describe('IvfIndex', () => {
  const n = 2000;
  const ids = Array.from({ length: n }, (_, i) => `v${i}`);
  const x = clustered(n, d, centers, 0.35, 13);
  const queries = clustered(40, d, centers, 0.35, 14);
  const flat = new FlatIndex(d);
  flat.add(ids, x);
  const exact = flat.searchSync(queries, 10);

  it('is exact with nprobe = nlist and recalls >= 0.9 of the top 10 with nprobe = nlist / 4', async () => {
    const ivf = IvfIndex.build(ids, x, d, { nlist: 16, nprobe: 16, seed: 1 });
    expect(ivf.size).toBe(n);
    expect(ivf.listSizes().reduce((a, b) => a + b, 0)).toBe(n);
    expect(await ivf.search(queries, 10)).toEqual(exact);
    const approx = ivf.searchSync(queries, 10, 4);
    const recall = recallAt(approx, exact);
    expect(recall).toBeGreaterThanOrEqual(0.9);
    // Scanning fewer lists can only lose neighbours: recall with 1 list is not above recall with 4.
    expect(recallAt(ivf.searchSync(queries, 10, 1), exact)).toBeLessThanOrEqual(recall);
  });

  it('stores f16, removes ids, and checks its inputs', () => {
    const ivf = IvfIndex.build(ids, x, d, { nlist: 8, nprobe: 8, dtype: 'f16', seed: 2 });
    const f16Flat = new FlatIndex(d, { dtype: 'f16' });
    f16Flat.add(ids, x);
    expect(ivf.searchSync(queries, 5)).toEqual(f16Flat.searchSync(queries, 5));
    const top = ivf.searchSync(queries.subarray(0, d), 1)[0][0].id;
    expect(ivf.remove([top, 'nope'])).toBe(1);
    expect(ivf.size).toBe(n - 1);
    expect(ivf.searchSync(queries.subarray(0, d), 10)[0].map((h) => h.id)).not.toContain(top);
    expect(() => ivf.add(['v1'], x.subarray(0, d))).toThrow('The id "v1" is already in the index.');
    expect(() => ivf.searchSync(queries, 5, 0)).toThrow('nprobe must be a positive integer, got 0.');
    const untrained = new IvfIndex(d, { nlist: 4 });
    expect(() => untrained.add(['a'], x.subarray(0, d))).toThrow(
      'The IVF index must be trained before vectors are added.',
    );
    expect(untrained.searchSync(queries.subarray(0, d), 3)).toEqual([[]]);
    expect(() => new IvfIndex(d, { nlist: 0 })).toThrow('nlist must be a positive integer, got 0.');
  });
});
