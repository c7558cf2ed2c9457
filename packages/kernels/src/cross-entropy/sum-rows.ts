/**
 * Sum of a vector into one element of another, on the GPU, so a training step reads back a few
 * scalars instead of every row's loss.
 *
 * Shapes: x f32 [n] (any shape; all elements are summed), out f32 [>= index + 1].
 *
 * ```ts
 * sumRows(rec, arLoss, scalars, { index: 0 });
 * sumRows(rec, bowLossPerGroup, scalars, { index: 1 });
 * rec.submit();
 * const [ar, bow] = await gpu.read(scalars);
 * ```
 */
import { params, type Recorder, type Tensor } from '@llara/gpu';
import { rowReduceDefines, withRowReduce } from './row-reduce.ts';
import code from './sum-rows.wgsl?raw';

const SOURCE = withRowReduce(code);

export function sumRows(rec: Recorder, x: Tensor, out: Tensor, o: { index?: number } = {}): void {
  const index = o.index ?? 0;
  if (x.dtype !== 'f32' || out.dtype !== 'f32')
    throw new Error(`sumRows needs f32 tensors, got ${x} and ${out}.`);
  if (index < 0 || index >= out.size) {
    throw new Error(`sumRows: element ${index} is outside ${out}.`);
  }
  rec.dispatch({
    pipeline: rec.gpu.pipeline({ code: SOURCE, label: 'sum-rows', defines: rowReduceDefines(rec.gpu) }),
    params: params([x.size, index]),
    bindings: [x, out],
    workgroups: [1],
    label: 'sum-rows',
  });
}
