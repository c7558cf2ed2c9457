/**
 * C (=, or += with beta 1) alpha * op(A) @ op(B) with A divided by a power of two first, so that
 * |A| <= 1 when the subgroup-matrix kernel rounds it to f16, and the product multiplied back in f32.
 * For input gradients dX = dY W on tensor cores: dY (1e-6 and below) would underflow in f16.
 *
 * The rescaling is exact (pow2-scale), so wherever `matmul` would not pick tensor cores (no subgroup
 * matrices, f32 weights, `precision: 'f32'`) this is plain `matmul` with precision 'f32', and with
 * `alwaysScale` (tests) the scaled path gives `matmul`'s result bit for bit on the f32 kernels. On
 * tensor cores only the f16 rounding of A / s remains: 2^-11 of max |A| relative, nothing above
 * 2^-24 max |A| lost.
 *
 * ```ts
 * matmulScaledA(rec, dY, w, dX, { M: tokens, N: inDim, K: outDim });   // dX = dY W
 * ```
 */
import type { Recorder, Tensor } from '@llara/gpu';
import { absMaxBits, scaleByPow2 } from '../pow2-scale/pow2-scale.ts';
import { matmul, matmulVariant } from './matmul.ts';
import type { MatmulOptions } from './matmul-options.ts';

export function matmulScaledA(
  rec: Recorder,
  a: Tensor,
  b: Tensor,
  c: Tensor,
  o: MatmulOptions & { alwaysScale?: boolean },
): void {
  const { alwaysScale, ...mo } = o;
  const f16 = { ...mo, precision: 'f16' as const };
  const tensorCores = matmulVariant(rec.gpu, { ...f16, bDtype: b.dtype }).startsWith('subgroup-matrix');
  if (!tensorCores && !alwaysScale) {
    matmul(rec, a, b, c, { ...mo, precision: 'f32' });
    return;
  }
  if (c.size !== o.M * o.N)
    throw new Error(`matmulScaledA: C must hold exactly M x N = ${o.M * o.N} values, but it is ${c}.`);
  const gpu = rec.gpu;
  const bits = gpu.tensor('u32', [1], undefined, { label: 'absmax(A)' });
  const scaled = gpu.tensor('f32', [a.size], undefined, { label: 'A / s' });
  const product = gpu.tensor('f32', [o.M, o.N], undefined, { label: 'A / s @ B' });
  rec.clear(bits);
  absMaxBits(rec, a, bits);
  scaleByPow2(rec, a, bits, scaled, { divide: true });
  matmul(rec, scaled, b, product, { ...f16, beta: 0 });
  scaleByPow2(rec, product, bits, c, { divide: false, accumulate: o.beta === 1 });
  bits.release();
  scaled.release();
  product.release();
}
