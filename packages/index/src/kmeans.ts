/**
 * Spherical k-means for IVF coarse quantisation (inner-product search): points and centroids are
 * unit-normalised, points join the centroid with the largest inner product, and a centroid is the
 * normalised mean of its points. Initialised with greedy k-means++ on the normalised points, from a seeded RNG.
 */
import { seededRandom } from '@llara/gpu';
import { dot } from './flat-index.ts';

export interface KMeansOptions {
  /** RNG seed for sampling and initialisation (default 0). */
  seed?: number;
  /** Maximum Lloyd iterations (default 20); stops early when no point changes cluster. */
  iterations?: number;
  /** Train on at most this many points, sampled without replacement (default 256 per centroid). */
  maxPoints?: number;
}

export interface KMeansResult {
  /** `[k, d]` unit-norm centroids, row-major. */
  centroids: Float32Array;
  /** Lloyd iterations run. */
  iterations: number;
}

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

/** Index of the row of `centroids` with the largest inner product with `x[xOff..xOff+d)`. */
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

function sampleRows(x: Float32Array, n: number, d: number, m: number, rand: () => number): Float32Array {
  if (m >= n) return x.slice(0, n * d);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rand() * (n - i));
    [order[i], order[j]] = [order[j], order[i]];
  }
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

/** Moves each empty centroid onto a random point of the largest cluster. */
function reseedEmpty(
  x: Float32Array,
  assign: Int32Array,
  counts: Int32Array,
  centroids: Float32Array,
  d: number,
  rand: () => number,
): void {
  for (let c = 0; c < counts.length; c++) {
    if (counts[c] > 0) continue;
    let largest = 0;
    for (let j = 1; j < counts.length; j++) if (counts[j] > counts[largest]) largest = j;
    const members = [...assign.keys()].filter((i) => assign[i] === largest);
    const i = members[Math.floor(rand() * members.length)];
    centroids.set(x.subarray(i * d, i * d + d), c * d);
    assign[i] = c;
    counts[largest]--;
    counts[c] = 1;
  }
}

/**
 * Clusters `n = x.length / d` points into `k` groups.
 * @example const { centroids } = kmeans(vectors, 64, 16, { seed: 1 });
 */
export function kmeans(x: Float32Array, d: number, k: number, options: KMeansOptions = {}): KMeansResult {
  const total = x.length / d;
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k-means needs a positive integer k, got ${k}.`);
  if (total < k) throw new Error(`k-means needs at least k = ${k} points to train on, got ${total}.`);
  const rand = seededRandom(options.seed ?? 0);
  const points = normalizeRows(sampleRows(x, total, d, options.maxPoints ?? 256 * k, rand), d);
  const n = points.length / d;
  const centroids = initPlusPlus(points, n, d, k, rand);
  const assign = new Int32Array(n).fill(-1);
  let it = 0;
  while (it < (options.iterations ?? 20)) {
    it++;
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const c = nearestCentroid(points, i * d, centroids, d);
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
    if (changed === 0) break;
  }
  return { centroids, iterations: it };
}
