/**
 * InfoNCE for contrastive fine-tuning, with in-batch negatives: loss and the gradients of both sides.
 *
 * Shapes (row-major): q f32 [queries, dim]; p f32 [passages, dim] (each query's group of 1 positive
 * + hard negatives laid out in turn, every passage of the batch a negative for every other query);
 * labels i32 [queries] (the index of query i's positive among the passages; < 0 leaves the query out);
 * loss f32 [queries]; dq f32 [queries, dim]; dp f32 [passages, dim].
 *   scores = q p^T / tau,  loss[i] = CE(scores_i, labels_i) / queries  (sum of loss = the mean CE),
 *   dq = d(sum loss)/dq = dS p,  dp = dS^T q,  dS = d(sum loss)/d(q p^T).
 * Built from `crossEntropy` (scale 1/tau) and a small strided matmul. The [queries, passages] scores
 * and their gradient are pooled temporaries, released when recorded (the pool hands them out again
 * only after the next submit).
 *
 * ```ts
 * // 4 queries, groups of 8 (positive first): labels = [0, 8, 16, 24]
 * infoNce(rec, qEmb, pEmb, labels, loss, dq, dp, { queries: 4, passages: 32, dim: 4096, tau: 0.02 });
 * sumRows(rec, loss, scalars);
 * ```
 */
import type { Recorder, Tensor } from '@llara/gpu';
import { crossEntropy } from '../cross-entropy/cross-entropy.ts';
import { expectSize } from '../cross-entropy/expect-size.ts';
import { stridedMatmul } from './scores.ts';

export interface InfoNceOptions {
  queries: number;
  passages: number;
  dim: number;
  /** Temperature: scores are q.p / tau (LLaRA/RepLLaMA use 0.01 - 0.02). */
  tau: number;
}

export function infoNce(
  rec: Recorder,
  q: Tensor,
  p: Tensor,
  labels: Tensor,
  loss: Tensor,
  dq: Tensor,
  dp: Tensor,
  o: InfoNceOptions,
): void {
  const { queries: B, passages: N, dim: D, tau } = o;
  if (!(tau > 0)) throw new Error(`infoNce needs a positive temperature, got ${tau}.`);
  expectSize(q, B * D, 'q', 'f32');
  expectSize(p, N * D, 'p', 'f32');
  expectSize(dq, B * D, 'dq', 'f32');
  expectSize(dp, N * D, 'dp', 'f32');
  const gpu = rec.gpu;
  const scores = gpu.tensor('f32', [B, N], undefined, { label: 'infonce-scores' });
  const dScores = gpu.tensor('f32', [B, N], undefined, { label: 'infonce-dscores' });
  stridedMatmul(rec, q, p, scores, {
    m: B,
    n: N,
    k: D,
    aStrides: [D, 1],
    bStrides: [1, D],
    label: 'infonce-scores',
  });
  crossEntropy(rec, scores, labels, loss, dScores, { rows: B, vocab: N, weight: 1 / B, scale: 1 / tau });
  stridedMatmul(rec, dScores, p, dq, {
    m: B,
    n: D,
    k: N,
    aStrides: [N, 1],
    bStrides: [D, 1],
    label: 'infonce-dq',
  });
  stridedMatmul(rec, dScores, q, dp, {
    m: N,
    n: D,
    k: B,
    aStrides: [1, N],
    bStrides: [D, 1],
    label: 'infonce-dp',
  });
  scores.release();
  dScores.release();
}

/** Labels for groups of `groupSize` passages per query with the positive first: [0, g, 2g, ...]. */
export function infoNceLabels(queries: number, groupSize: number): Int32Array {
  return Int32Array.from({ length: queries }, (_, i) => i * groupSize);
}
