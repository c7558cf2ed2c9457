import { type Gpu, randomArray, seededRandom } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dot } from './flat-index.ts';
import { kmeans, nearestCentroids, normalizeRows } from './kmeans.ts';
import { kmeansOnGpu, nearestCentroidsOnGpu } from './kmeans-gpu.ts';

let gpu: Gpu;
let plain: Gpu;
beforeAll(async () => {
  gpu = await requestNodeGpu();
  plain = await requestNodeGpu({ disable: ['shader-f16', 'subgroups'], defaultLimits: true });
});
afterAll(() => {
  gpu?.destroy();
  plain?.destroy();
});

/** `n` points around `k` random directions (noise `spread`), not normalised. */
function clustered(n: number, d: number, k: number, spread: number, seed: number): Float32Array {
  const centers = normalizeRows(randomArray(k * d, seed), d);
  const rand = seededRandom(seed + 1);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(rand() * k);
    for (let j = 0; j < d; j++) out[i * d + j] = centers[c * d + j] + spread * (rand() * 2 - 1);
  }
  return out;
}

/** `distinct` points on a coarse grid (multiples of 1/4), each repeated `copies` times, interleaved. */
function duplicated(distinct: number, copies: number, d: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  const base = new Float32Array(distinct * d);
  for (let i = 0; i < base.length; i++) base[i] = Math.round((rand() * 2 - 1) * 4) / 4;
  const out = new Float32Array(distinct * copies * d);
  for (let i = 0; i < distinct * copies; i++)
    out.set(base.subarray((i % distinct) * d, ((i % distinct) + 1) * d), i * d);
  return out;
}

/** Points whose best inner product is reached by two or more centroids. */
function tiedPoints(x: Float32Array, centroids: Float32Array, d: number): number {
  let tied = 0;
  for (let i = 0; i < x.length / d; i++) {
    const scores = Array.from({ length: centroids.length / d }, (_, c) => dot(x, i * d, centroids, c * d, d));
    const best = Math.max(...scores);
    if (scores.filter((s) => s === best).length > 1) tied++;
  }
  return tied;
}

describe('nearestCentroidsOnGpu', () => {
  it('equals the CPU assignment, the lowest index winning exact ties', async () => {
    const d = 6;
    const x = duplicated(40, 3, d, 3);
    // Centroids from the same grid, rows 2 and 5 equal to row 0 and row 7 to row 4: every point that
    // prefers row 0 (or 4) ties exactly with its copies, and grid values make other scores tie too.
    const centroids = duplicated(9, 1, d, 4);
    centroids.copyWithin(2 * d, 0, d);
    centroids.copyWithin(5 * d, 0, d);
    centroids.copyWithin(7 * d, 4 * d, 5 * d);
    const cpu = nearestCentroids(x, centroids, d);
    expect(tiedPoints(x, centroids, d)).toBeGreaterThan(10);
    for (const device of [gpu, plain])
      expect(await nearestCentroidsOnGpu(device, x, centroids, d)).toEqual(cpu);
    // No point may end on a higher copy of a tied centroid.
    expect([...cpu].filter((c) => c === 2 || c === 5 || c === 7)).toEqual([]);
    await expect(nearestCentroidsOnGpu(gpu, x, new Float32Array(0), d)).rejects.toThrow(
      'The centroids must be a non-empty [k, 6] array, got 0 values.',
    );
  });
});

describe('kmeansOnGpu', () => {
  it('gives the same centroids and iterations as CPU k-means, for both initialisations', async () => {
    const d = 16;
    const x = clustered(600, d, 10, 0.4, 7);
    for (const init of ['kmeans++', 'random'] as const) {
      const cpu = kmeans(x, d, 12, { seed: 3, init });
      const onGpu = await kmeansOnGpu(gpu, x, d, 12, { seed: 3, init });
      expect(cpu.iterations, init).toBeGreaterThan(1);
      expect(onGpu).toEqual(cpu);
    }
  });

  it('stays identical on duplicated points and duplicated initial centroids (exact ties, empty clusters)', async () => {
    const d = 8;
    const x = duplicated(30, 8, d, 9);
    const options = { seed: 2, init: 'random' as const, iterations: 6 };
    // Random init draws 12 of 240 points that hold only 30 distinct values: some centroids start equal,
    // so the first assignment ties exactly and leaves the higher copies empty, to be reseeded.
    const start = kmeans(x, d, 12, { ...options, iterations: 0 }).centroids;
    expect(tiedPoints(normalizeRows(x.slice(), d), start, d)).toBeGreaterThan(0);
    const cpu = kmeans(x, d, 12, options);
    expect(await kmeansOnGpu(plain, x, d, 12, options)).toEqual(cpu);
    // Every point identical: all join centroid 0 and the rest are reseeded onto copies of it, each step.
    const same = duplicated(1, 50, d, 5);
    expect(await kmeansOnGpu(gpu, same, d, 4, { seed: 1, iterations: 3 })).toEqual(
      kmeans(same, d, 4, { seed: 1, iterations: 3 }),
    );
  });
});
