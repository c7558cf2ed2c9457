/**
 * k-means with the assignment step on a WebGPU device, as FAISS's GPU k-means splits the work: each
 * point's nearest centroid (O(n k d) inner products) is found on the GPU, the centroid update (O(n d)),
 * reseeding and every random draw run on the CPU in the Lloyd loop shared with `kmeans`.
 *
 * The assignment is a `GpuFlatIndex` search with the centroids as the corpus and the points as queries,
 * k = 1. That search is exact (it equals `FlatIndex`: the same f32 `dot` scores, ties by id descending),
 * so naming centroid c with an id that sorts descending in c makes the lowest index win ties, as the
 * CPU `nearestCentroid` does: GPU k-means returns the same centroids as CPU k-means, bit for bit.
 */
import type { Gpu } from '@llara/gpu';
import { GpuFlatIndex } from './gpu-flat-index.ts';
import { type KMeansOptions, type KMeansResult, kmeansSteps } from './kmeans.ts';

/** Points searched per call: bounds the result objects alive at once (the index batches further). */
const POINT_CHUNK = 1 << 16;
/**
 * Candidates per point beyond the best: the exact re-rank then settles almost every point at once; a
 * point with more near-tied centroids than this is asked again with more.
 */
const MARGIN = 7;

/** Finds nearest centroids on one device, reusing its buffers across calls (one per Lloyd iteration). */
class CentroidSearch {
  private readonly index: GpuFlatIndex;
  private ids: string[] = [];

  constructor(
    gpu: Gpu,
    readonly d: number,
  ) {
    this.index = new GpuFlatIndex(gpu, d, { dtype: 'f32', precision: 'f32', margin: MARGIN });
  }

  /** `nearestCentroid` of every row of `points` (`[n, d]`) among `centroids` (`[k, d]`). */
  async nearest(points: Float32Array, centroids: Float32Array): Promise<Int32Array> {
    const d = this.d;
    const k = centroids.length / d;
    this.index.remove(this.ids);
    // Centroid c is named k - 1 - c, zero-padded so that byte order is numeric order: the id tie rule
    // (descending) then prefers the lower index.
    const width = String(k - 1).length;
    this.ids = Array.from({ length: k }, (_, c) => String(k - 1 - c).padStart(width, '0'));
    this.index.add(this.ids, centroids);
    const n = points.length / d;
    const out = new Int32Array(n);
    for (let start = 0; start < n; start += POINT_CHUNK) {
      const end = Math.min(n, start + POINT_CHUNK);
      const hits = await this.index.search(points.subarray(start * d, end * d), 1);
      for (let i = 0; i < hits.length; i++) out[start + i] = k - 1 - Number(hits[i][0].id);
    }
    return out;
  }

  destroy(): void {
    this.index.destroy();
  }
}

/**
 * Index of the centroid with the largest inner product for every row of `x` (`[n, d]`), on the GPU:
 * equal to `nearestCentroids` (lowest index on ties).
 * @example const lists = await nearestCentroidsOnGpu(gpu, vectors, centroids, 768);
 */
export async function nearestCentroidsOnGpu(
  gpu: Gpu,
  x: Float32Array,
  centroids: Float32Array,
  d: number,
): Promise<Int32Array> {
  if (centroids.length === 0 || centroids.length % d !== 0)
    throw new Error(`The centroids must be a non-empty [k, ${d}] array, got ${centroids.length} values.`);
  if (x.length % d !== 0) throw new Error(`The vectors must be [n, ${d}], got ${x.length} values.`);
  const search = new CentroidSearch(gpu, d);
  try {
    return await search.nearest(x, centroids);
  } finally {
    search.destroy();
  }
}

/**
 * `kmeans` with the assignment step on the GPU: the same options and, for the same inputs, the same
 * centroids and iteration count.
 * @example const { centroids } = await kmeansOnGpu(gpu, vectors, 768, 1024, { seed: 1 });
 */
export async function kmeansOnGpu(
  gpu: Gpu,
  x: Float32Array,
  d: number,
  k: number,
  options: KMeansOptions = {},
): Promise<KMeansResult> {
  const steps = kmeansSteps(x, d, k, options);
  let step = steps.next();
  if (step.done) return step.value;
  const search = new CentroidSearch(gpu, d);
  try {
    while (!step.done) step = steps.next(await search.nearest(step.value.points, step.value.centroids));
    return step.value;
  } finally {
    search.destroy();
  }
}
