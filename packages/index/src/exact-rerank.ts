/**
 * Exact results from approximate candidates. A fast scorer (GPU matmul, LanceDB) returns each source's
 * best rows by its own, slightly wrong, scores; this module re-scores them exactly on the CPU and proves
 * that no row left out could rank in the top k, so results equal `FlatIndex` bit for bit (ids, scores and
 * the id tie rule). The proof needs a bound `eps` on |approximate - exact| for every row of a source:
 * a row that was not returned has approximate score <= the lowest returned one (`floor`), hence exact
 * score <= floor + eps; when the k-th exact score is strictly above that, the source is settled.
 * Otherwise the caller fetches more candidates (or scans the source exactly) and merges again.
 */
import type { SearchHit } from './ranking.ts';
import { TopK } from './top-k.ts';

/** One source's candidates for one query. */
export interface CandidateList {
  /** Number of candidates. */
  readonly length: number;
  /** Approximate score of candidate j. */
  approx(j: number): number;
  /** Exact score of candidate j (called only for candidates that may rank). */
  exact(j: number): number;
  id(j: number): string;
  /** Bound on |approx - exact| for every row of the source, returned or not. */
  readonly eps: number;
  /** True when the list is known to hold the source's best k rows (every row, or an exact scan). */
  readonly settled: boolean;
}

export interface MergeResult {
  /** The best k hits among all candidates, ranked, with exact scores. */
  hits: SearchHit[];
  /** Indices of the lists whose left-out rows might still rank: widen them and merge again. */
  unsettled: number[];
}

/**
 * Merges candidate lists into the exact top k. Candidates whose upper bound (approx + eps) is below the
 * k-th best lower bound (approx - eps) cannot rank and are never scored exactly.
 */
export function mergeCandidates(lists: readonly CandidateList[], k: number): MergeResult {
  const unsettled: number[] = [];
  const usable = lists.map((list, i) => {
    const ok = isUsable(list);
    if (!ok) unsettled.push(i);
    return ok;
  });
  const lows: number[] = [];
  lists.forEach((list, i) => {
    if (!usable[i]) return;
    for (let j = 0; j < list.length; j++) lows.push(list.approx(j) - list.eps);
  });
  let bar = Number.NEGATIVE_INFINITY;
  if (lows.length >= k) bar = kthLargest(lows, k);
  const top = new TopK(k);
  lists.forEach((list, i) => {
    if (!usable[i]) return;
    for (let j = 0; j < list.length; j++) {
      if (list.approx(j) + list.eps >= bar) top.push(list.id(j), list.exact(j));
    }
  });
  const kth = top.threshold;
  lists.forEach((list, i) => {
    if (!usable[i] || list.settled) return;
    let floor = Number.POSITIVE_INFINITY;
    for (let j = 0; j < list.length; j++) floor = Math.min(floor, list.approx(j));
    if (!(kth > floor + list.eps)) unsettled.push(i);
  });
  return { hits: top.sorted(), unsettled: unsettled.sort((a, b) => a - b) };
}

/** False when the list's scores or bound overflowed: no amount of widening can settle it, only a scan. */
export function isUsable(list: CandidateList): boolean {
  if (!Number.isFinite(list.eps)) return false;
  for (let j = 0; j < list.length; j++) if (!Number.isFinite(list.approx(j))) return false;
  return true;
}

function kthLargest(values: number[], k: number): number {
  values.sort((a, b) => b - a);
  return values[k - 1];
}

/**
 * Bound on |computed - exact| of an inner product of length `dims` with |q| = `queryNorm` and every
 * row's norm <= `rowNorm`, covering the approximate scorer (f32 accumulation in any order, optionally
 * with the query rounded to f16 first) and the CPU's own rounding of the exact score to f32.
 * |sum of q_i v_i errors| <= gamma * sum |q_i v_i| <= gamma * |q| |v| (Cauchy-Schwarz); every constant is
 * four times the textbook one to cover hardware that accumulates with truncation.
 */
export function innerProductErrorBound(
  dims: number,
  queryNorm: number,
  rowNorm: number,
  opts: { queryRoundedToF16?: boolean } = {},
): number {
  const accumulate = (dims + 8) * 2 ** -22;
  const toF32 = 2 ** -22;
  let bound = (accumulate + toF32) * queryNorm * rowNorm + dims * 2 ** -140;
  if (opts.queryRoundedToF16) {
    // Relative rounding 2^-11 of normal halves, absolute 2^-25 of subnormals; doubled.
    bound += 2 ** -10 * queryNorm * rowNorm + 2 ** -24 * Math.sqrt(dims) * rowNorm;
  }
  return bound;
}
