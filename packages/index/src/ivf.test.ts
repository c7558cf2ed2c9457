import { type Gpu, randomArray, seededRandom } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlatIndex } from './flat-index.ts';
import { IvfIndex } from './ivf.ts';
import { defaultInit, kmeans, kmeansSteps, normalizeRows } from './kmeans.ts';
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
    // Progress: one call per iteration run, the last one with no point moving when it converged early.
    const seen: { iteration: number; changed: number }[] = [];
    const run = kmeans(x, d, 16, { seed: 5, onIteration: (p) => seen.push(p) });
    expect(seen.map((p) => p.iteration)).toEqual(Array.from({ length: run.iterations }, (_, i) => i + 1));
    if (run.iterations < 20) expect(seen.at(-1)?.changed).toBe(0);
    expect(seen[0].changed).toBe(x.length / d); // every point joins a cluster in the first iteration
    expect(() => kmeans(x.subarray(0, 3 * d), d, 4)).toThrow(
      'k-means needs at least k = 4 points to train on, got 3.',
    );
  });

  it('initialises with k-means++ or k random points, by cost when not told', () => {
    const x = clustered(800, d, centers, 0.05, 12);
    const plusPlus = kmeans(x, d, 16, { seed: 5 });
    expect(plusPlus.init).toBe('kmeans++');
    const random = kmeans(x, d, 16, { seed: 5, init: 'random' });
    expect(random.init).toBe('random');
    expect(random.centroids).not.toEqual(plusPlus.centroids);
    // Random init starts from 16 of the (normalised) training points themselves.
    const start = kmeans(x, d, 16, { seed: 5, init: 'random', iterations: 0 }).centroids;
    const points = normalizeRows(x.slice(), d);
    for (let c = 0; c < 16; c++) {
      const row = start.subarray(c * d, c * d + d);
      const found = Array.from({ length: 800 }, (_, i) => i).some((i) =>
        row.every((v, j) => v === points[i * d + j]),
      );
      expect(found, `centroid ${c}`).toBe(true);
    }
    // Greedy k-means++ costs n k d (2 + ln k): fine for small problems, 'random' for IVF-sized k.
    expect(defaultInit(2000, 32, 16)).toBe('kmeans++');
    expect(defaultInit(20_000, 256, 566)).toBe('random');
    expect(kmeans(x, d, 16, { seed: 5, maxPoints: 800, iterations: 1 }).init).toBe('kmeans++');
    expect(() => kmeans(x, d, 4, { init: 'best' as 'random' })).toThrow(
      "k-means init must be 'kmeans++' or 'random', got 'best'.",
    );
  });

  it('checks what the assignment step answers', () => {
    const x = clustered(100, d, centers, 0.05, 3);
    const steps = kmeansSteps(x, d, 4);
    steps.next();
    expect(() => steps.next(new Int32Array(99))).toThrow('The assignment step returned 99 of 100 points.');
    const again = kmeansSteps(x, d, 4);
    again.next();
    expect(() => again.next(new Int32Array(100).fill(4))).toThrow(
      'The assignment step put point 0 in cluster 4 of 4.',
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

describe('IvfIndex on the GPU', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await requestNodeGpu();
  });
  afterAll(() => gpu?.destroy());

  const n = 1200;
  const ids = Array.from({ length: n }, (_, i) => `v${i}`);
  const x = clustered(n, d, centers, 0.35, 21);
  const queries = clustered(20, d, centers, 0.35, 22);

  it('builds the same index as the CPU: centroids, lists and search results', async () => {
    for (const init of ['kmeans++', 'random'] as const) {
      const options = { nlist: 24, nprobe: 3, seed: 4, init };
      const cpu = IvfIndex.build(ids.slice(0, 1000), x.subarray(0, 1000 * d), d, options);
      const onGpu = await IvfIndex.buildOnGpu(gpu, ids.slice(0, 1000), x.subarray(0, 1000 * d), d, options);
      expect(onGpu.getCentroids(), init).toEqual(cpu.getCentroids());
      expect(onGpu.listSizes()).toEqual(cpu.listSizes());
      // Vectors added later (not in the training set) go to the same lists too.
      cpu.add(ids.slice(1000), x.subarray(1000 * d));
      await onGpu.addOnGpu(gpu, ids.slice(1000), x.subarray(1000 * d));
      expect(onGpu.listSizes()).toEqual(cpu.listSizes());
      expect(await onGpu.search(queries, 10)).toEqual(await cpu.search(queries, 10));
    }
  });

  it('checks its inputs before using the GPU', async () => {
    const untrained = new IvfIndex(d, { nlist: 4 });
    expect(untrained.getCentroids()).toBeUndefined();
    await expect(untrained.addOnGpu(gpu, ['a'], x.subarray(0, d))).rejects.toThrow(
      'The IVF index must be trained before vectors are added.',
    );
    await untrained.trainOnGpu(gpu, x.subarray(0, 100 * d));
    await expect(untrained.addOnGpu(gpu, ['a', 'a'], x.subarray(0, 2 * d))).rejects.toThrow(
      'The id "a" is already in the index.',
    );
    await untrained.addOnGpu(gpu, [], new Float32Array(0));
    expect(untrained.size).toBe(0);
  });
});
