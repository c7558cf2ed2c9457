/**
 * Power-of-two rescaling of an f32 tensor by its largest |value|, for products that round an operand
 * to f16 on tensor cores: gradients (1e-6 and below) would underflow in f16, but x / s with
 * s = 2^ceil(log2(max |x|)) lies in [-1, 1], and dividing and multiplying back by s are exact in f32.
 *
 * - `absMaxBits(rec, x, bits)`: bits (u32 [1], zeroed first by `rec.clear`) = the bit pattern of max |x|
 *   (absmax.wgsl; several calls accumulate).
 * - `scaleByPow2(rec, x, bits, out, { divide })`: out = x / s, or out (+)= x * s (scale-pow2.wgsl).
 *
 * ```ts
 * const bits = gpu.tensor('u32', [1]);
 * rec.clear(bits);
 * absMaxBits(rec, dY, bits);
 * scaleByPow2(rec, dY, bits, dYs, { divide: true });   // |dYs| <= 1
 * ```
 */
import { grid1d, params, type Recorder, type Tensor } from '@llara/gpu';
import { ELEMENT_WG } from '../elementwise/elementwise.ts';
import { expectNoAlias, expectTensor } from '../elementwise/tensor-checks.ts';
import absmaxCode from './absmax.wgsl?raw';
import scaleCode from './scale-pow2.wgsl?raw';

/** Elements each absmax invocation reads (PER in absmax.wgsl). */
const PER = 8;

export function absMaxBits(rec: Recorder, x: Tensor, bits: Tensor): void {
  expectTensor('absMaxBits', 'x', x, 'f32');
  expectTensor('absMaxBits', 'bits', bits, 'u32', 1);
  const [nx, ny] = grid1d(x.size, ELEMENT_WG * PER);
  rec.dispatch({
    pipeline: rec.gpu.pipeline({ code: absmaxCode, label: 'absmax', constants: { WG: ELEMENT_WG } }),
    params: params([x.size, nx]),
    bindings: [x, bits],
    workgroups: [nx, ny],
    label: 'absmax',
  });
}

export function scaleByPow2(
  rec: Recorder,
  x: Tensor,
  bits: Tensor,
  out: Tensor,
  o: { divide: boolean; accumulate?: boolean },
): void {
  const label = o.divide ? 'divide-pow2' : 'multiply-pow2';
  expectTensor(label, 'x', x, 'f32');
  expectTensor(label, 'bits', bits, 'u32', 1);
  expectTensor(label, 'out', out, 'f32', x.size);
  expectNoAlias(label, ['out', out], ['x', x]);
  if (o.divide && o.accumulate) throw new Error('divide-pow2: accumulate only applies to the multiply');
  const [nx, ny] = grid1d(x.size, ELEMENT_WG);
  rec.dispatch({
    pipeline: rec.gpu.pipeline({
      code: scaleCode,
      label,
      defines: { DIVIDE: o.divide },
      constants: { WG: ELEMENT_WG },
    }),
    params: params([x.size, nx, o.accumulate ? 1 : 0]),
    bindings: [x, bits, out],
    workgroups: [nx, ny],
    label,
  });
}
