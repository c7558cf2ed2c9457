/**
 * Token cross-entropy and its gradient in one dispatch (training always needs both).
 *
 * Shapes (row-major, f32 unless noted):
 *   logits  [rows, vocab]   labels i32 [rows]   loss [rows]   dLogits [rows, vocab]
 * With z = scale * logits[n]:
 *   loss[n] = weight * (logsumexp(z) - z[labels[n]]);   dLogits = d(sum_n loss[n]) / d logits
 *           = weight * scale * (softmax(z) - onehot(labels[n])).
 * A label < 0 is ignored (loss 0, gradient 0); a label >= vocab gives a NaN loss, so a bad batch stops
 * training instead of passing silently. NaN or +Inf logits give a NaN loss. One workgroup per row loops
 * over the vocabulary (softmax in f32 with max subtraction). `dLogits` must not alias `logits`.
 *
 * ```ts
 * // mean next-token loss over the labelled positions
 * crossEntropy(rec, logits, labels, loss, dLogits, { rows: n, vocab: 32016, weight: 1 / labelled });
 * sumRows(rec, loss, total); // one scalar to read back
 * ```
 */
import { type Gpu, grid1d, params, type Recorder, type Tensor } from '@llara/gpu';
import code from './cross-entropy.wgsl?raw';
import { expectSize } from './expect-size.ts';
import { rowReduceDefines, withRowReduce } from './row-reduce.ts';

export interface CrossEntropyOptions {
  rows: number;
  vocab: number;
  /** Multiplies every row's loss and gradient, e.g. 1 / (number of labelled rows). */
  weight: number;
  /** Logits are multiplied by this first (e.g. 1 / tau); the gradient includes it. Default 1. */
  scale?: number;
}

const SOURCE = withRowReduce(code);

export function crossEntropyPipeline(gpu: Gpu): GPUComputePipeline {
  return gpu.pipeline({ code: SOURCE, label: 'cross-entropy', defines: rowReduceDefines(gpu) });
}

export function crossEntropy(
  rec: Recorder,
  logits: Tensor,
  labels: Tensor,
  loss: Tensor,
  dLogits: Tensor,
  o: CrossEntropyOptions,
): void {
  const { rows, vocab } = o;
  expectSize(logits, rows * vocab, 'logits', 'f32');
  expectSize(labels, rows, 'labels', 'i32');
  expectSize(loss, rows, 'loss', 'f32');
  expectSize(dLogits, rows * vocab, 'dLogits', 'f32');
  const workgroups = grid1d(rows, 1, rec.gpu.limits.maxComputeWorkgroupsPerDimension);
  rec.dispatch({
    pipeline: crossEntropyPipeline(rec.gpu),
    params: params([rows, vocab, workgroups[0], { f32: o.weight }, { f32: o.scale ?? 1 }]),
    bindings: [logits, labels, loss, dLogits],
    workgroups,
    label: 'cross-entropy',
  });
}
