/**
 * Row L2 normalisation (the last step of every embedding) and its backward.
 *
 * Shapes (row-major f32): x, y, dy, dx [rows, dim].
 *   y  = x / max(||x||, 1e-12)                       (as torch.nn.functional.normalize)
 *   dx = (dy - y * <dy, y>) / ||x||  if ||x|| > 1e-12, else dy / 1e-12  (the exact gradient, as autograd)
 * The backward re-reads x instead of keeping y. One workgroup per row; the sum of squares is f32, so
 * rows with a norm above ~1e19 overflow (embeddings are nowhere near). `y`/`dx` must not alias inputs.
 *
 * ```ts
 * l2Normalize(rec, pooled, emb, { rows: batch, dim: 4096 });
 * // ... loss gives dEmb ...
 * l2NormalizeBackward(rec, pooled, dEmb, dPooled, { rows: batch, dim: 4096 });
 * ```
 */
import { type Gpu, grid1d, params, type Recorder, type Tensor } from '@llara/gpu';
import { expectSize } from '../cross-entropy/expect-size.ts';
import { rowReduceDefines, withRowReduce } from '../cross-entropy/row-reduce.ts';
import code from './l2-normalize.wgsl?raw';

export interface L2NormalizeOptions {
  rows: number;
  dim: number;
}

const SOURCE = withRowReduce(code);

function pipeline(gpu: Gpu, backward: boolean): GPUComputePipeline {
  return gpu.pipeline({
    code: SOURCE,
    label: backward ? 'l2-normalize-backward' : 'l2-normalize',
    defines: { ...rowReduceDefines(gpu), BACKWARD: backward },
  });
}

export function l2Normalize(rec: Recorder, x: Tensor, y: Tensor, o: L2NormalizeOptions): void {
  const n = o.rows * o.dim;
  expectSize(x, n, 'x', 'f32');
  expectSize(y, n, 'y', 'f32');
  const workgroups = grid1d(o.rows, 1, rec.gpu.limits.maxComputeWorkgroupsPerDimension);
  rec.dispatch({
    pipeline: pipeline(rec.gpu, false),
    params: params([o.rows, o.dim, workgroups[0]]),
    bindings: [x, y],
    workgroups,
    label: 'l2-normalize',
  });
}

export function l2NormalizeBackward(
  rec: Recorder,
  x: Tensor,
  dy: Tensor,
  dx: Tensor,
  o: L2NormalizeOptions,
): void {
  const n = o.rows * o.dim;
  expectSize(x, n, 'x', 'f32');
  expectSize(dy, n, 'dy', 'f32');
  expectSize(dx, n, 'dx', 'f32');
  const workgroups = grid1d(o.rows, 1, rec.gpu.limits.maxComputeWorkgroupsPerDimension);
  rec.dispatch({
    pipeline: pipeline(rec.gpu, true),
    params: params([o.rows, o.dim, workgroups[0]]),
    bindings: [x, dy, dx],
    workgroups,
    label: 'l2-normalize-backward',
  });
}
