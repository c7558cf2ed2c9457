/**
 * Bag-of-words loss (LLaRA's EBAE/EBAR objective) and its gradient in one dispatch.
 *
 * Shapes (row-major):
 *   logits        f32 [groups * positions, vocab]  the `positions` rows of group g are consecutive
 *   targetOffsets i32 [groups + 1]                 CSR: group g's targets are targetIds[off[g] .. off[g+1])
 *   targetIds     i32 [nnz]                        repeats allowed and counted (dedupe first for `flag`)
 *   weights       f32 [groups]                     e.g. 1 / (10 * batch) for the `flag` recipe
 *   loss          f32 [groups]                     out
 *   dLogits       f32 [groups * positions, vocab]  out: d(sum_g loss[g]) / d logits (every element written)
 * Per group: m[v] = max_p logits[g*P + p, v] (P = 8 for `flag`, 1 for `paper`), logp = log_softmax(m),
 * loss[g] = -weights[g] / n_g * sum_j logp[targets_j]. The max-pool routes each vocabulary entry's
 * gradient to its argmax row (the first on ties). A group without targets: loss 0, gradient 0. A NaN
 * logit makes its group's loss NaN, and so does a target id outside [0, vocab) (a caller bug).
 * One workgroup per group loops over the vocabulary; softmax is f32 with max subtraction.
 *
 * ```ts
 * // flag recipe, EBAE and EBAR groups of 8 special positions for each of B samples
 * bowLoss(rec, logits, offsets, ids, weights, loss, dLogits, { groups: 2 * B, positions: 8, vocab: 32016 });
 * sumRows(rec, loss, scalars, { index: 1 });
 * ```
 */
import { grid1d, params, type Recorder, type Tensor } from '@llara/gpu';
import { expectSize } from '../cross-entropy/expect-size.ts';
import { rowReduceDefines, withRowReduce } from '../cross-entropy/row-reduce.ts';
import code from './bow-loss.wgsl?raw';

export interface BowLossOptions {
  groups: number;
  /** Rows max-pooled per group (8 for `flag`, 1 for `paper`). */
  positions: number;
  vocab: number;
}

const SOURCE = withRowReduce(code);

export function bowLoss(
  rec: Recorder,
  logits: Tensor,
  targetOffsets: Tensor,
  targetIds: Tensor,
  weights: Tensor,
  loss: Tensor,
  dLogits: Tensor,
  o: BowLossOptions,
): void {
  const { groups, positions, vocab } = o;
  if (positions < 1) throw new Error(`bowLoss needs at least one position per group, got ${positions}.`);
  expectSize(logits, groups * positions * vocab, 'logits', 'f32');
  expectSize(targetOffsets, groups + 1, 'targetOffsets', 'i32');
  if (targetIds.dtype !== 'i32') throw new Error(`The targetIds tensor must be i32, but it is ${targetIds}.`);
  expectSize(weights, groups, 'weights', 'f32');
  expectSize(loss, groups, 'loss', 'f32');
  expectSize(dLogits, groups * positions * vocab, 'dLogits', 'f32');
  const workgroups = grid1d(groups, 1, rec.gpu.limits.maxComputeWorkgroupsPerDimension);
  rec.dispatch({
    pipeline: rec.gpu.pipeline({ code: SOURCE, label: 'bow-loss', defines: rowReduceDefines(rec.gpu) }),
    params: params([groups, positions, vocab, workgroups[0]]),
    bindings: [logits, targetOffsets, targetIds, weights, loss, dLogits],
    workgroups,
    label: 'bow-loss',
  });
}
