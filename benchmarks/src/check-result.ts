/**
 * The outcome of one device correctness check (`device-main checks`): pass/fail against a stated
 * tolerance with the largest error seen, or skipped (with the reason) where the device lacks the
 * feature, or error when the check itself could not run.
 */
import { type CloseReport, compareClose, cosine, type Tolerance } from '@llara/gpu';

export { cosine };

export type CheckStatus = 'pass' | 'fail' | 'skipped' | 'error';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  /** Largest |gpu - reference| over the compared values (null when nothing was compared). */
  maxAbsError: number | null;
  /** The rule applied, e.g. `atol 0.002 + rtol 0.0001` or `min cosine >= 0.999`. */
  tolerance: string;
  /** One line: what was compared, and the worst value on failure. */
  detail: string;
  seconds: number;
}

export function toleranceText(t: Tolerance): string {
  return `atol ${t.atol} + rtol ${t.rtol}`;
}

/** Merges several comparisons of one check: it passes when all do; the worst message is kept. */
export function combine(reports: CloseReport[]): { ok: boolean; maxAbsError: number; message: string } {
  let maxAbsError = 0;
  let failed: CloseReport | null = null;
  for (const r of reports) {
    maxAbsError = Math.max(maxAbsError, r.maxAbsError);
    if (!r.ok && (!failed || r.worstExcess > failed.worstExcess)) failed = r;
  }
  return {
    ok: failed === null,
    maxAbsError,
    message: failed
      ? failed.message
      : `all ${reports.length} comparisons within tolerance (max abs error ${maxAbsError.toExponential(2)})`,
  };
}

/** compareClose on already-extracted values. */
export function compare(
  what: string,
  gpu: ArrayLike<number>,
  ref: ArrayLike<number>,
  tol: Tolerance,
): CloseReport {
  return compareClose(gpu, ref, tol, what);
}

/** Largest |x| (for tolerances relative to a tensor's scale). */
export function maxAbs(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.abs(xs[i]));
  return m;
}

/** Distinct sample indices in [0, n): both ends, the middle, and a few pseudo-random ones. */
export function sampleIndices(n: number, count: number, seed: number): number[] {
  const picks = new Set<number>([0, n - 1, Math.floor(n / 2)]);
  let s = seed >>> 0 || 1;
  while (picks.size < Math.min(count, n)) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    picks.add(s % n);
  }
  return [...picks].sort((a, b) => a - b);
}
