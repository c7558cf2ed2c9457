/**
 * matmul with block-quantized weights (q8, q4, nf4: dequantized as each tile loads them) against the
 * float64 reference applied to the CPU-dequantized weights, for both products LoRA training needs
 * through a frozen base: y = x W^T (forward) and dX = dY W (input gradient), on odd shapes, on the full
 * device and on the plain-f32 default-limits device.
 */
import {
  compareClose,
  f16BitsToF32,
  f32ToF16Bits,
  type Gpu,
  QUANT_FORMATS,
  type QuantFormat,
  randomArray,
  type Tensor,
} from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dequantizeMatrix, quantizeMatrix } from '../quant/quantize.ts';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { matmulRef } from './matmul.ref.ts';
import { matmul, matmulVariant } from './matmul.ts';
import type { MatmulOptions } from './matmul-options.ts';
import { subgroupMatrixShape } from './matmul-subgroup-matrix.ts';

// f32 accumulation of exact decoded values: the same tolerance as the f32 matmul tests.
const tol = (K: number) => ({ atol: 1e-5 * Math.sqrt(Math.max(K, 1)), rtol: 1e-4 });
// Tensor cores round A and the decoded weights to f16 (matmul.test.ts's f16 tolerance).
const tolF16 = (K: number) => ({ atol: 2e-3 * Math.sqrt(Math.max(K, 1)), rtol: 2e-3 });
const round16 = (x: ArrayLike<number>) => Float32Array.from(x, (v) => f16BitsToF32(f32ToF16Bits(v)));

let gpus: TestGpu[] = [];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

/** A quantized [rows, cols] weight on the device and the values it decodes to. */
function quantWeight(gpu: Gpu, format: QuantFormat, rows: number, cols: number, seed: number) {
  const words = quantizeMatrix(format, randomArray(rows * cols, seed), rows, cols);
  return {
    t: gpu.tensor(format, [rows, cols], words),
    values: dequantizeMatrix(format, words, rows, cols),
  };
}

// (tokens, out, in): every edge of a tile and of a block is off in some case.
const SHAPES: [number, number, number][] = [
  [1, 7, 65],
  [7, 129, 1],
  [65, 1, 129],
  [129, 65, 7],
];

async function check(gpu: Gpu, format: QuantFormat, variant: string, seed: number): Promise<void> {
  const rec = gpu.recorder();
  const f16 = variant === 'subgroup-matrix';
  const pending: { out: Tensor; expected: Float64Array; what: string; K: number; tensors: Tensor[] }[] = [];
  SHAPES.forEach(([T, out, inDim], i) => {
    const w = quantWeight(gpu, format, out, inDim, seed + i);
    // Forward y = x W^T (W stored [out, in]) and input gradient dX = dY W.
    const cases: [MatmulOptions, number][] = [
      [{ M: T, N: out, K: inDim, transB: true, variant }, T * inDim],
      [{ M: T, N: inDim, K: out, transB: false, variant, precision: 'f32' }, T * out],
    ];
    for (const [o, aSize] of cases) {
      const a = randomArray(aSize, seed + 100 + i);
      const at = gpu.tensor('f32', [aSize], a);
      const c = gpu.tensor('f32', [o.M * o.N]);
      matmul(rec, at, w.t, c, o);
      const what = `${matmulVariant(gpu, { ...o, bDtype: format })} M=${o.M} N=${o.N} K=${o.K}`;
      const expected = f16
        ? matmulRef(round16(a), round16(w.values), null, o)
        : matmulRef(a, w.values, null, o);
      pending.push({ out: c, expected, what, K: o.K, tensors: [at, c] });
    }
    pending[pending.length - 1].tensors.push(w.t);
  });
  rec.submit();
  for (const p of pending) {
    const t = f16 ? tolF16(p.K) : tol(p.K);
    const r = compareClose((await gpu.read(p.out)) as Float32Array, p.expected, t, p.what);
    expect(r.ok, r.message).toBe(true);
    for (const t of p.tensors) t.release();
  }
}

describe('matmul on quantized weights', () => {
  it('y = x W^T and dX = dY W match the reference on odd shapes (reg4x4, tiled, tensor cores), every device', async () => {
    // reg4x4 on both devices; the tiled kernels (the same word-wise decode into workgroup memory, a
    // second pipeline per format that lavapipe compiles slowly) on the default-limits device only; the
    // subgroup-matrix kernel where the device has it (elsewhere: matmul-subgroup-matrix-quant.test.ts).
    for (const [i, { gpu }] of gpus.entries())
      for (const format of QUANT_FORMATS)
        for (const variant of [
          'reg4x4',
          ...(i === 0 ? [] : ['tiled64']),
          ...(subgroupMatrixShape(gpu) ? ['subgroup-matrix'] : []),
        ])
          await check(gpu, format, variant, 11);
  });

  it('picks a quantized-capable family by itself and names the view', () => {
    for (const { gpu } of gpus) {
      const v = matmulVariant(gpu, { M: 64, N: 64, K: 64, transB: true, bDtype: 'nf4' });
      expect(v).toMatch(/^(reg4x4|tiled64|tiled128|subgroup-matrix-\d+x\d+x\d+)-nf4-nt$/);
    }
  });

  it('refuses a quantized weight whose stored shape is not the product operand', () => {
    const gpu = gpus[0].gpu;
    const w = quantWeight(gpu, 'q4', 8, 40, 1);
    const a = gpu.tensor('f32', [2 * 8]);
    const c = gpu.tensor('f32', [2 * 40]);
    // W is [8, 40]: y = x W^T needs K = 40; K = 8 with transB would read it as [40, 8].
    expect(() => matmul(gpu.recorder(), a, w.t, c, { M: 2, N: 40, K: 8, transB: true })).toThrow(
      /q4 weight .* is not the stored B \[40, 8\]/,
    );
    if (!subgroupMatrixShape(gpu))
      expect(() =>
        matmul(gpu.recorder(), a, w.t, c, { M: 2, N: 40, K: 8, variant: 'subgroup-matrix' }),
      ).toThrow(/needs f16 -> f32 subgroup matrices, which this device lacks/);
    for (const t of [w.t, a, c]) t.release();
  });
});
