/**
 * Elementwise operations on f32 tensors of any shape (taken flat, row-major), one element per
 * invocation; dispatches past 65,535 workgroups fold into 2-D. NaN/Inf pass through unchanged.
 *
 * ```ts
 * const rec = gpu.recorder();
 * add(rec, residual, attnOut, residual);   // residual += attnOut
 * axpy(rec, -lr, grad, param);             // param -= lr * grad
 * fill(rec, grad, 0);
 * rec.submit();
 * ```
 */
import { grid1d, params, type Recorder, type Tensor } from '@llara/gpu';
import { weightDefines, weightView, withWeights } from '../common/weights.ts';
import code from './elementwise.wgsl?raw';
import { expectNoAlias, expectTensor } from './tensor-checks.ts';

/** Invocations per workgroup of the one-element-per-invocation kernels (this family's). */
export const ELEMENT_WG = 256;

// Only OP_CAST reads a weight; with no W_* define the weight chunk compiles to nothing.
const CODE = withWeights(code);

type Op = 'OP_ADD' | 'OP_AXPY' | 'OP_SCALE' | 'OP_FILL' | 'OP_CAST';

function run(
  rec: Recorder,
  op: Op,
  label: string,
  n: number,
  alpha: number,
  bindings: Tensor[],
  weights: Record<string, boolean> = {},
): void {
  const [nx, ny] = grid1d(n, ELEMENT_WG);
  rec.dispatch({
    pipeline: rec.gpu.pipeline({
      code: CODE,
      label,
      defines: { [op]: true, ...weights },
      constants: { WG: ELEMENT_WG },
    }),
    params: params([n, nx, { f32: alpha }]),
    bindings,
    workgroups: [nx, ny],
    label,
  });
}

/** out = a + b (same element counts). `out` may be `a` or `b` (or both). */
export function add(rec: Recorder, a: Tensor, b: Tensor, out: Tensor): void {
  const n = a.size;
  expectTensor('add', 'a', a, 'f32');
  expectTensor('add', 'b', b, 'f32', n);
  expectTensor('add', 'out', out, 'f32', n);
  const inA = out.buffer === a.buffer;
  const inB = out.buffer === b.buffer;
  if (inA && inB) {
    run(rec, 'OP_SCALE', 'add', n, 2, [out]); // a + a == 2a exactly
  } else if (inA || inB) {
    run(rec, 'OP_AXPY', 'add', n, 1, [inA ? b : a, out]); // out += other; 1 * x is exact
  } else {
    run(rec, 'OP_ADD', 'add', n, 0, [a, b, out]);
  }
}

/** y += alpha * x. */
export function axpy(rec: Recorder, alpha: number, x: Tensor, y: Tensor): void {
  expectTensor('axpy', 'x', x, 'f32');
  expectTensor('axpy', 'y', y, 'f32', x.size);
  expectNoAlias('axpy', ['y', y], ['x', x]);
  run(rec, 'OP_AXPY', 'axpy', x.size, alpha, [x, y]);
}

/** x *= alpha, in place. */
export function scale(rec: Recorder, x: Tensor, alpha: number): void {
  expectTensor('scale', 'x', x, 'f32');
  run(rec, 'OP_SCALE', 'scale', x.size, alpha, [x]);
}

/** Every element of x = value (any f32, NaN included). */
export function fill(rec: Recorder, x: Tensor, value: number): void {
  expectTensor('fill', 'x', x, 'f32');
  run(rec, 'OP_FILL', 'fill', x.size, value, [x]);
}

/** dst = src, byte for byte (same dtype and element count); recorded as a buffer copy. */
export function copyTensor(rec: Recorder, src: Tensor, dst: Tensor): void {
  expectTensor('copyTensor', 'dst', dst, src.dtype, src.size);
  if (src.buffer === dst.buffer) return;
  rec.copy(src, dst, src.byteLength);
}

/** dst (f32) = src (f32, f16 or bf16) converted exactly, for weights another kernel must read as f32. */
export function castToF32(rec: Recorder, src: Tensor, dst: Tensor): void {
  expectTensor('castToF32', 'src', src, ['f32', 'f16', 'bf16']);
  expectTensor('castToF32', 'dst', dst, 'f32', src.size);
  expectNoAlias('castToF32', ['dst', dst], ['src', src]);
  run(rec, 'OP_CAST', 'cast-to-f32', src.size, 0, [src, dst], weightDefines(weightView(rec.gpu, src.dtype)));
}
