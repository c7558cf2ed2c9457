/**
 * Rotary position embedding (HF LLaMA, rotate_half layout), applied in place, and its backward (the
 * transpose rotation, also in place). One (x[i], x[i + headDim/2]) pair per invocation; dispatches past
 * 65,535 workgroups fold into 2-D. sin/cos come from a polynomial in the kernel, the same on every
 * device (see rope.wgsl).
 *
 * Layouts (row-major): x: f32 [T, numHeads * headDim] (head-major within a token, headDim contiguous);
 * positions: i32 [T].
 *
 * ```ts
 * rope(rec, q, positionIds, { numHeads: 32, headDim: 128, theta: 10000 });
 * rope(rec, k, positionIds, { numHeads: 32, headDim: 128, theta: 10000, scaling: { kind: 'linear', factor: 2 } });
 * ```
 */
import { grid1d, params, type Recorder, type Tensor } from '@llara/gpu';
import { ELEMENT_WG } from '../elementwise/elementwise.ts';
import { expectTensor } from '../elementwise/tensor-checks.ts';
import { ROPE_MAX_HEAD_DIM, type RopeOptions, ropeInvFreq } from './inv-freq.ts';
import code from './rope.wgsl?raw';

export { ROPE_MAX_HEAD_DIM, type RopeOptions, type RopeScaling, ropeInvFreq } from './inv-freq.ts';

function dispatch(
  rec: Recorder,
  kernel: string,
  x: Tensor,
  positions: Tensor,
  o: RopeOptions,
  dir: number,
): void {
  const invFreq = ropeInvFreq(o);
  const { numHeads, headDim } = o;
  if (!Number.isInteger(numHeads) || numHeads < 1)
    throw new Error(`${kernel}: numHeads ${numHeads} must be a positive integer.`);
  const width = numHeads * headDim;
  expectTensor(kernel, 'x', x, 'f32');
  if (x.size % width !== 0) {
    throw new Error(`${kernel}: x (${x}) is not a whole number of tokens of ${numHeads} heads x ${headDim}.`);
  }
  const T = x.size / width;
  expectTensor(kernel, 'positions', positions, 'i32', T);
  const table = new Array<{ f32: number }>(ROPE_MAX_HEAD_DIM / 2);
  for (let i = 0; i < table.length; i++) table[i] = { f32: i < invFreq.length ? invFreq[i] : 0 };
  const pairs = T * numHeads * (headDim / 2);
  const [nx, ny] = grid1d(pairs, ELEMENT_WG);
  rec.dispatch({
    pipeline: rec.gpu.pipeline({ code, label: 'rope', constants: { WG: ELEMENT_WG } }),
    params: params([T, numHeads, headDim / 2, nx, { f32: dir }, 0, 0, 0, ...table]),
    bindings: [positions, x],
    workgroups: [nx, ny],
    label: kernel,
  });
}

/** Rotates x in place by each token's position. */
export function rope(rec: Recorder, x: Tensor, positions: Tensor, o: RopeOptions): void {
  dispatch(rec, 'rope', x, positions, o, 1);
}

/** Backward of `rope`, in place on the gradient: dx <- R(pos)^T dx. */
export function ropeBackward(rec: Recorder, dx: Tensor, positions: Tensor, o: RopeOptions): void {
  dispatch(rec, 'rope-backward', dx, positions, o, -1);
}
