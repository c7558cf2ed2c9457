/**
 * Spherical k-means for IVF coarse quantisation (inner-product search): points and centroids are
 * unit-normalised, points join the centroid with the largest inner product, and a centroid is the
 * normalised mean of its points. Initialised from a seeded RNG with greedy k-means++ or with k random
 * points (see `KMeansOptions.init`).
 *
 * The Lloyd loop (`kmeansSteps`) is written once and asks its caller for the assignment step, the
 * O(n k d) part: `kmeans` answers on the CPU, `kmeansOnGpu` (kmeans-gpu.ts) on a WebGPU device. The
 * O(n d) centroid update, empty-cluster reseeding and all random draws stay here, on the CPU.
 */
import { seededRandom } from '@llara/gpu';
import { dot } from './flat-index.ts';

/** How the first centroids are chosen. */
export type KMeansInit = 'kmeans++' | 'random';

export interface KMeansOptions {
  /** RNG seed for sampling and initialisation (default 0). */
  seed?: number;
  /** Maximum Lloyd iterations (default 20); stops early when no point changes cluster. */
  iterations?: number;
  /** Train on at most this many points, sampled without replacement (default 256 per centroid). */
  maxPoints?: number;
  /**
   * 'kmeans++': greedy k-means++, well spread centroids but O(n k d log k) on the CPU;
   * 'random': k distinct training points, as FAISS does, O(k d).
   * Default: 'kmeans++', unless it would cost more than `PLUS_PLUS_BUDGET` multiply-adds (a few
   * seconds of JS; with 256 training points per centroid, beyond about 70 centroids of 256 dimensions
   * or 45 of 768), then 'random'.
   */
  init?: KMeansInit;
  /** Called after each Lloyd iteration: its number (from 1), the maximum, and the points that moved. */
  onIteration?: (p: { iteration: number; maxIterations: number; changed: number }) => void;
}

export interface KMeansResult {
  /** `[k, d]` unit-norm centroids, row-major. */
  centroids: Float32Array;
  /** Lloyd iterations run. */
  iterations: number;
  /** The initialisation used. */
  init: KMeansInit;
}

/** What the Lloyd loop asks its caller for: each point's `nearestCentroid` among `centroids`. */
export interface AssignmentRequest {
  /** `[n, d]` unit-norm training points (the same array at every step). */
  points: Float32Array;
  /** `[k, d]` current centroids; read-only for the caller, and only until it answers. */
  centroids: Float32Array;
  d: number;
  k: number;
}

/**
 * Multiply-adds of greedy k-means++ (n points x k centroids x d x (2 + ln k) trials) above which the
 * default initialisation is 'random': greedy k-means++ grows with k^2 once n is ~256 k.
 */
export const PLUS_PLUS_BUDGET = 2e9;

/** Scales each `d`-long row of `x` to unit length in place (zero rows stay zero). */
export function normalizeRows(x: Float32Array, d: number): Float32Array {
  for (let off = 0; off < x.length; off += d) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[off + j] * x[off + j];
    if (s === 0) continue;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < d; j++) x[off + j] *= inv;
  }
  return x;
}

/**
 * Index of the row of `centroids` with the largest inner product (`dot`) with `x[xOff..xOff+d)`;
 * the lowest index wins ties.
 */
export function nearestCentroid(x: Float32Array, xOff: number, centroids: Float32Array, d: number): number {
  let best = 0;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < centroids.length / d; c++) {
    const s = dot(x, xOff, centroids, c * d, d);
    if (s > bestScore) {
      bestScore = s;
      best = c;
    }
  }
  return best;
}

/**
 * `nearestCentroid` of every row of `x` (`[n, d]`), on the CPU.
 * @example const lists = nearestCentroids(vectors, centroids, 768); // Int32Array [n]
 */
export function nearestCentroids(x: Float32Array, centroids: Float32Array, d: number): Int32Array {
  const out = new Int32Array(x.length / d);
  for (let i = 0; i < out.length; i++) out[i] = nearestCentroid(x, i * d, centroids, d);
  return out;
}

/** The first `m` entries of a seeded Fisher-Yates shuffle of 0..n-1 (the rest left unshuffled). */
function shuffledPrefix(n: number, m: number, rand: () => number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rand() * (n - i));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

function sampleRows(x: Float32Array, n: number, d: number, m: number, rand: () => number): Float32Array {
  if (m >= n) return x.slice(0, n * d);
  const order = shuffledPrefix(n, m, rand);
  const out = new Float32Array(m * d);
  for (let i = 0; i < m; i++) out.set(x.subarray(order[i] * d, order[i] * d + d), i * d);
  return out;
}

function squaredDistance(x: Float32Array, i: number, c: Float32Array, j: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) {
    const diff = x[i * d + t] - c[j * d + t];
    s += diff * diff;
  }
  return s;
}

/** Index drawn with probability proportional to `weights[i]` (`total` = their sum). */
function drawWeighted(weights: Float64Array, total: number, rand: () => number): number {
  let r = rand() * total;
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i];
    if (r < 0) return i;
  }
  return weights.length - 1;
}

/**
 * Greedy k-means++ (as scikit-learn does it): each next centroid is the best, by the resulting sum of
 * squared distances, of 2 + ln(k) points drawn with probability proportional to their squared distance
 * to the nearest centroid so far. Plain k-means++ often leaves a cluster uncovered when clusters are
 * many and tight, and Lloyd iterations cannot repair that.
 */
export function initPlusPlus(
  x: Float32Array,
  n: number,
  d: number,
  k: number,
  rand: () => number,
): Float32Array {
  const centroids = new Float32Array(k * d);
  const trials = 2 + Math.floor(Math.log(k));
  let dist = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  let pick = Math.floor(rand() * n);
  let candidateDist = new Float64Array(n);
  let bestDist = new Float64Array(n);
  for (let c = 0; c < k; c++) {
    if (c > 0) {
      const total = dist.reduce((a, b) => a + b, 0);
      let bestPotential = Number.POSITIVE_INFINITY;
      for (let t = 0; t < trials; t++) {
        const cand = drawWeighted(dist, total, rand);
        let potential = 0;
        for (let i = 0; i < n; i++) {
          candidateDist[i] = Math.min(dist[i], squaredDistance(x, i, x, cand, d));
          potential += candidateDist[i];
        }
        if (potential < bestPotential) {
          bestPotential = potential;
          pick = cand;
          [bestDist, candidateDist] = [candidateDist, bestDist];
        }
      }
      [dist, bestDist] = [bestDist, dist];
    } else {
      for (let i = 0; i < n; i++) dist[i] = squaredDistance(x, i, x, pick, d);
    }
    centroids.set(x.subarray(pick * d, pick * d + d), c * d);
  }
  return centroids;
}

/** k distinct points drawn uniformly, as FAISS initialises (its training set is already a random sample). */
function initRandom(x: Float32Array, n: number, d: number, k: number, rand: () => number): Float32Array {
  const order = shuffledPrefix(n, k, rand);
  const centroids = new Float32Array(k * d);
  for (let c = 0; c < k; c++) centroids.set(x.subarray(order[c] * d, order[c] * d + d), c * d);
  return centroids;
}

/**
 * Moves each empty centroid onto a random point of the (then) largest cluster. Members are bucketed once
 * per call, so many empty clusters at large k cost O(n + k * empty), not O(n * empty).
 */
function reseedEmpty(
  x: Float32Array,
  assign: Int32Array,
  counts: Int32Array,
  centroids: Float32Array,
  d: number,
  rand: () => number,
): void {
  const k = counts.length;
  if (!counts.includes(0)) return;
  // Counting sort of points by cluster, each cluster's members in index order.
  const start = new Int32Array(k + 1);
  for (let c = 0; c < k; c++) start[c + 1] = start[c] + counts[c];
  const sorted = new Int32Array(assign.length);
  const fill = start.slice(0, k);
  for (let i = 0; i < assign.length; i++) sorted[fill[assign[i]]++] = i;
  const members = new Map<number, number[]>();
  for (let c = 0; c < k; c++) {
    if (counts[c] > 0) continue;
    let largest = 0;
    for (let j = 1; j < k; j++) if (counts[j] > counts[largest]) largest = j;
    let list = members.get(largest);
    if (!list) {
      list = Array.from(sorted.subarray(start[largest], start[largest + 1]));
      members.set(largest, list);
    }
    // Sum of counts = n >= k, so while a cluster is empty the largest one has at least two points.
    const [i] = list.splice(Math.floor(rand() * list.length), 1);
    centroids.set(x.subarray(i * d, i * d + d), c * d);
    assign[i] = c;
    counts[largest]--;
    counts[c] = 1;
  }
}

/** The initialisation `kmeans` uses for `n` training points when none is given. */
export function defaultInit(n: number, d: number, k: number): KMeansInit {
  return n * k * d * (2 + Math.floor(Math.log(k))) <= PLUS_PLUS_BUDGET ? 'kmeans++' : 'random';
}

/**
 * The Lloyd loop, shared by every assignment backend: yields an `AssignmentRequest` per iteration and
 * must be sent back, for every training point, the index of its `nearestCentroid` (lowest index on ties).
 * Returns the result when the assignments stop changing or the iterations run out.
 *
 * @example
 * const steps = kmeansSteps(vectors, 768, 256, { seed: 1 });
 * let s = steps.next();
 * while (!s.done) s = steps.next(nearestCentroids(s.value.points, s.value.centroids, s.value.d));
 * const { centroids } = s.value;
 */
export function* kmeansSteps(
  x: Float32Array,
  d: number,
  k: number,
  options: KMeansOptions = {},
): Generator<AssignmentRequest, KMeansResult, Int32Array> {
  const total = x.length / d;
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k-means needs a positive integer k, got ${k}.`);
  if (total < k) throw new Error(`k-means needs at least k = ${k} points to train on, got ${total}.`);
  const maxPoints = options.maxPoints ?? 256 * k;
  const maxIterations = options.iterations ?? 20;
  const init = options.init ?? defaultInit(Math.min(total, maxPoints), d, k);
  if (init !== 'kmeans++' && init !== 'random')
    throw new Error(`k-means init must be 'kmeans++' or 'random', got '${init}'.`);
  const rand = seededRandom(options.seed ?? 0);
  const points = normalizeRows(sampleRows(x, total, d, maxPoints, rand), d);
  const n = points.length / d;
  const centroids =
    init === 'random' ? initRandom(points, n, d, k, rand) : initPlusPlus(points, n, d, k, rand);
  const assign = new Int32Array(n).fill(-1);
  let it = 0;
  while (it < maxIterations) {
    it++;
    const nearest: Int32Array = yield { points, centroids, d, k };
    if (nearest?.length !== n)
      throw new Error(`The assignment step returned ${nearest?.length} of ${n} points.`);
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const c = nearest[i];
      if (!(c >= 0 && c < k)) throw new Error(`The assignment step put point ${i} in cluster ${c} of ${k}.`);
      if (c !== assign[i]) changed++;
      assign[i] = c;
    }
    const counts = new Int32Array(k);
    centroids.fill(0);
    for (let i = 0; i < n; i++) {
      counts[assign[i]]++;
      for (let j = 0; j < d; j++) centroids[assign[i] * d + j] += points[i * d + j];
    }
    reseedEmpty(points, assign, counts, centroids, d, rand);
    normalizeRows(centroids, d);
    options.onIteration?.({ iteration: it, maxIterations, changed });
    if (changed === 0) break;
  }
  return { centroids, iterations: it, init };
}

/**
 * Clusters `n = x.length / d` points into `k` groups on the CPU (see `kmeansOnGpu` for the same
 * result with the assignment step on a GPU).
 * @example const { centroids } = kmeans(vectors, 16, 64, { seed: 1 });
 */
export function kmeans(x: Float32Array, d: number, k: number, options: KMeansOptions = {}): KMeansResult {
  const steps = kmeansSteps(x, d, k, options);
  let step = steps.next();
  while (!step.done) step = steps.next(nearestCentroids(step.value.points, step.value.centroids, d));
  return step.value;
}
