/**
 * The gemv matmul family (y = x W^T for a few tokens) against the float64 reference, for every weight
 * view, on odd shapes (K off every run and block; N off the 4 rows of a workgroup; M = 1, 3, 8),
 * with alpha/beta, transposed A, several passes of 8 tokens and folded/split grids, on the full device
 * (lavapipe: subgroupAdd reduction) and on the default-limits plain-f32 device (workgroup-memory tree).
 */
import {
  compareClose,
  type DType,
  fromBf16Array,
  fromF16Array,
  type Gpu,
  QUANT_FORMATS,
  randomArray,
  type Tensor,
  toBf16Array,
  toF16Array,
} from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dequantizeMatrix, quantizeMatrix } from '../quant/quantize.ts';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { matmulRef } from './matmul.ref.ts';
import { matmulVariant, recordMatmul } from './matmul.ts';
import type { MatmulOptions } from './matmul-options.ts';

// f32 accumulation of exactly decoded weights: matmul.test.ts's f32 tolerance.
const tol = (K: number) => ({ atol: 1e-5 * Math.sqrt(Math.max(K, 1)), rtol: 1e-4 });

interface Case extends MatmulOptions {
  bDtype: DType;
  /** Fill C with NaN before a beta-0 product: the kernel must not read it. */
  nanC?: boolean;
}

let gpus: TestGpu[] = [];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

/** W stored [N, K] in `dtype` on the device, and the values it decodes to. */
function weight(gpu: Gpu, dtype: DType, N: number, K: number, seed: number) {
  const values = randomArray(N * K, seed);
  if (dtype === 'f32') return { t: gpu.tensor('f32', [N, K], values), decoded: values };
  if (dtype === 'f16' || dtype === 'bf16') {
    const bits = dtype === 'f16' ? toF16Array(values) : toBf16Array(values);
    const decoded = dtype === 'f16' ? fromF16Array(bits) : fromBf16Array(bits);
    return { t: gpu.tensor(dtype, [N, K], bits), decoded };
  }
  const format = dtype as (typeof QUANT_FORMATS)[number];
  const words = quantizeMatrix(format, values, N, K);
  return { t: gpu.tensor(format, [N, K], words), decoded: dequantizeMatrix(format, words, N, K) };
}

/** Runs every case in one submit and checks each against the reference; returns the variants run. */
async function runCases(gpu: Gpu, cases: Case[], seed: number, maxPerDim = 65535): Promise<string[]> {
  const rec = gpu.recorder();
  const pending: { c: Case; out: Tensor; expected: Float64Array; what: string; tensors: Tensor[] }[] = [];
  cases.forEach((c, i) => {
    const o: Case = { transB: true, variant: 'gemv', ...c };
    const a = randomArray(o.M * o.K, seed + 3 * i);
    const w = weight(gpu, o.bDtype, o.N, o.K, seed + 3 * i + 1);
    const c0 = o.nanC
      ? new Float32Array(o.M * o.N).fill(Number.NaN)
      : randomArray(o.M * o.N, seed + 3 * i + 2);
    const at = gpu.tensor('f32', [a.length], a);
    const out = gpu.tensor('f32', [c0.length], c0);
    recordMatmul(rec, at, w.t, out, o, maxPerDim);
    const what = `${matmulVariant(gpu, o)} M=${o.M} N=${o.N} K=${o.K} transA=${!!o.transA} alpha=${o.alpha ?? 1} beta=${o.beta ?? 0}`;
    pending.push({ c: o, out, expected: matmulRef(a, w.decoded, c0, o), what, tensors: [at, w.t, out] });
  });
  rec.submit();
  for (const { c, out, expected, what, tensors } of pending) {
    const r = compareClose((await gpu.read(out)) as Float32Array, expected, tol(c.K), what);
    expect(r.ok, r.message).toBe(true);
    for (const t of tensors) t.release();
  }
  return pending.map((p) => p.what);
}

// Every view at M = 3 (the 4-token-row pipeline, one row a clamped duplicate), N = 9 (off the 4 rows a
// workgroup owns) and K = 36 (vector loads of A; the last run of 8 half past the row; off every 32- and
// 64-block). Then the 1- and 8-row pipelines with K = 65 (element loads, the last run of 4 and of 8
// partial). Each (view, rows, alignment) is a pipeline lavapipe compiles for one to three seconds, so the
// other cases reuse these pipelines (transA, alpha and beta, passes of 8 are run-time parameters).
const DTYPES: DType[] = ['f32', 'f16', 'bf16', ...QUANT_FORMATS];
const EDGES: Case[] = [
  { M: 1, N: 7, K: 65, bDtype: 'f32' },
  { M: 8, N: 5, K: 65, bDtype: 'q4' },
];

describe('gemv matmul on every test device', () => {
  it('matches the reference for every weight view on odd shapes at M = 1, 3 and 8', async () => {
    for (const { gpu } of gpus) {
      const cases: Case[] = [...DTYPES.map((bDtype) => ({ M: 3, N: 9, K: 36, bDtype })), ...EDGES];
      const names = await runCases(gpu, cases, 1);
      // The reduction follows the device: subgroupAdd where it has subgroups, else workgroup memory.
      const prefix = gpu.has('subgroups') ? 'gemv-subgroups-' : 'gemv-';
      expect(
        names.every((n) => n.startsWith(prefix)),
        names.join('\n'),
      ).toBe(true);
    }
  });

  it('applies alpha and beta, never reads C at beta 0, reads A transposed, and loops over passes of 8 tokens', async () => {
    for (const { gpu } of gpus) {
      const cases: Case[] = [];
      for (const edge of EDGES) {
        cases.push({ M: 3, N: 9, K: 36, bDtype: edge.bDtype, alpha: 0.5, beta: 1 });
        cases.push({ ...edge, alpha: -2, nanC: true });
        cases.push({ ...edge, transA: true, beta: 1 });
      }
      cases.push({ ...EDGES[1], M: 19, N: 6 });
      await runCases(gpu, cases, 50);
    }
  });

  it('folds tall grids and splits wide ones past the per-dimension workgroup limit', async () => {
    // 3 groups of 4 output columns and 3 passes of 8 tokens with at most 2 workgroups per dimension.
    for (const { gpu } of gpus) await runCases(gpu, [{ ...EDGES[1], M: 20, N: 11 }], 70, 2);
  });

  it('is the automatic choice for y = x W^T at up to 8 tokens, and only there', () => {
    for (const { gpu } of gpus) {
      const o = { N: 4096, K: 4096, transB: true, bDtype: 'q4' as const };
      for (const M of [1, 8]) expect(matmulVariant(gpu, { ...o, M })).toMatch(/^gemv(-subgroups)?-q4-nt$/);
      expect(matmulVariant(gpu, { ...o, M: 9 })).not.toMatch(/^gemv/);
      expect(matmulVariant(gpu, { ...o, M: 1, transB: false })).not.toMatch(/^gemv/);
      expect(() => matmulVariant(gpu, { ...o, M: 1, transB: false, variant: 'gemv' })).toThrow(
        /gemv matmul reads B stored \[N, K\] \(transB\)/,
      );
    }
  });
});
