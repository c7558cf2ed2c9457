/**
 * The one tolerance rule of the project: |actual - expected| <= atol + rtol * |expected|, element by
 * element. NaN must match NaN and infinities must match exactly. On failure the message names the worst
 * index and both values.
 */
export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface CloseReport {
  ok: boolean;
  worstIndex: number;
  worstExcess: number;
  maxAbsError: number;
  message: string;
}

export function compareClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
  what = 'values',
): CloseReport {
  if (actual.length !== expected.length) {
    return {
      ok: false,
      worstIndex: -1,
      worstExcess: Number.POSITIVE_INFINITY,
      maxAbsError: Number.POSITIVE_INFINITY,
      message: `${what}: length ${actual.length} != expected ${expected.length}`,
    };
  }
  let worst = -1;
  let worstExcess = 0;
  let maxAbs = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) !== Number.isNaN(a)) {
        worst = i;
        worstExcess = Number.POSITIVE_INFINITY;
        break;
      }
      continue;
    }
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      if (a !== e) {
        worst = i;
        worstExcess = Number.POSITIVE_INFINITY;
        break;
      }
      continue;
    }
    const err = Math.abs(a - e);
    maxAbs = Math.max(maxAbs, err);
    const excess = err - (tol.atol + tol.rtol * Math.abs(e));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  const ok = worst < 0;
  return {
    ok,
    worstIndex: worst,
    worstExcess,
    maxAbsError: maxAbs,
    message: ok
      ? `${what}: all ${actual.length} within atol ${tol.atol} + rtol ${tol.rtol} (max abs error ${maxAbs.toExponential(2)})`
      : `${what}: index ${worst} is ${actual[worst]} but expected ${expected[worst]} (atol ${tol.atol}, rtol ${tol.rtol}; ${actual.length} values)`,
  };
}

/** Throws with `compareClose`'s message when values differ beyond the tolerance. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
  what?: string,
): void {
  const r = compareClose(actual, expected, tol, what);
  if (!r.ok) throw new Error(r.message);
}

/** Deterministic pseudo-random numbers for tests and random-init models (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` values uniform in [lo, hi). */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** Cosine similarity of two equal-length vectors (f64 sums). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}
