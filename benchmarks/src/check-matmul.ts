/**
 * Device check of every matmul variant at LLaMA-2-7B shapes (and one shape off every tile) against an
 * f64 CPU reference on sampled rows of C: the kernel tests cover these variants on small shapes (and
 * the subgroup-matrix one only through a CPU emulation of its tiling); this runs them where they are
 * meant to run. The reference uses the values the GPU sees: f16 weights decoded, and for the
 * subgroup-matrix kernel A rounded to f16 as well (its error against unrounded A is reported too).
 * The subgroup-matrix kernel is checked with every candidate workgroup tile (`SUBGROUP_MATRIX_TILES`),
 * since the benchmark's tile sweep may make any of them the default. Block-quantized weights (q8, q4,
 * nf4) are checked against the CPU-dequantized values (rounded to f16 too for the subgroup-matrix
 * kernel, which rounds them so), in every family with the default tile.
 */
import {
  f16BitsToF32,
  f32ToF16Bits,
  type Gpu,
  isQuantFormat,
  type QuantFormat,
  type Tensor,
  type Tolerance,
} from '@llara/gpu';
import {
  dequantizeMatrix,
  GEMV_MAX_M,
  matmul,
  matmulVariant,
  quantizeMatrix,
  SUBGROUP_MATRIX_TILES,
  type SubgroupMatrixTile,
  subgroupMatrixShape,
  subgroupMatrixTileName,
} from '@llara/kernels';
import { type CheckResult, combine, compare, sampleIndices, toleranceText } from './check-result.ts';
import { randomF32 } from './random-data.ts';
import { errorMessage } from './rows.ts';

export interface MatmulCheckShape {
  M: number;
  N: number;
  K: number;
  layout: 'nt' | 'nn' | 'tn';
  what: string;
  /** Weight dtypes to check (tn takes activations as B, so f32 only). */
  dtypes: ('f32' | 'f16' | QuantFormat)[];
}

export function matmulCheckShapes(smoke: boolean): MatmulCheckShape[] {
  if (smoke)
    return [
      { M: 64, N: 96, K: 128, layout: 'nt', what: 'projection', dtypes: ['f32', 'f16'] },
      { M: 33, N: 67, K: 69, layout: 'nt', what: 'off-tile', dtypes: ['f32', 'f16', 'q4'] },
      { M: 48, N: 64, K: 80, layout: 'nn', what: 'input gradient', dtypes: ['f16', 'nf4'] },
      { M: 8, N: 64, K: 40, layout: 'tn', what: 'LoRA gradient', dtypes: ['f32'] },
      { M: 3, N: 67, K: 69, layout: 'nt', what: 'few tokens (gemv)', dtypes: ['f16', 'q4'] },
    ];
  return [
    { M: 2048, N: 11008, K: 4096, layout: 'nt', what: 'gate/up projection', dtypes: ['f32', 'f16'] },
    { M: 2048, N: 4096, K: 11008, layout: 'nt', what: 'down projection', dtypes: ['f16'] },
    { M: 257, N: 4099, K: 4097, layout: 'nt', what: 'off every tile', dtypes: ['f32', 'f16'] },
    { M: 2048, N: 4096, K: 11008, layout: 'nn', what: 'input gradient of down', dtypes: ['f16'] },
    // Quantized weights off every tile and block, at a quarter of the 7B widths: the CPU quantizes
    // and dequantizes each format (seconds per 10M values), and the decode's index arithmetic does
    // not depend on the size.
    {
      M: 257,
      N: 1031,
      K: 4097,
      layout: 'nt',
      what: 'quantized, off every tile',
      dtypes: ['q8', 'q4', 'nf4'],
    },
    {
      M: 520,
      N: 4099,
      K: 1030,
      layout: 'nn',
      what: 'quantized input gradient, off every tile',
      dtypes: ['q8', 'q4', 'nf4'],
    },
    { M: 256, N: 32016, K: 4096, layout: 'nt', what: 'LM head, vocab 32016', dtypes: ['f16'] },
    { M: 64, N: 4096, K: 2048, layout: 'tn', what: 'LoRA A gradient', dtypes: ['f32'] },
    // A query or two (gemv's case), full width for full-precision weights, quarter width quantized.
    {
      M: 1,
      N: 4099,
      K: 4097,
      layout: 'nt',
      what: 'one token (gemv), off every tile',
      dtypes: ['f32', 'f16'],
    },
    {
      M: 7,
      N: 1031,
      K: 4097,
      layout: 'nt',
      what: 'few tokens (gemv), quantized',
      dtypes: ['q8', 'q4', 'nf4'],
    },
  ];
}

const FAMILIES = ['reg4x4', 'tiled64', 'tiled128', 'subgroup-matrix', 'gemv'] as const;

/** What one check runs: a kernel family, and for the subgroup-matrix kernel a non-default tile. */
interface Kernel {
  family: (typeof FAMILIES)[number];
  tile?: SubgroupMatrixTile;
}

/**
 * Every family (gemv where matmul would pick it: y = x W^T on a few tokens), then (f16 weights on
 * devices with subgroup matrices) the subgroup-matrix kernel's other tiles, which read quantized
 * weights through the same slice copy as the default one.
 */
function kernelsToCheck(gpu: Gpu, dtype: MatmulCheckShape['dtypes'][number], s: MatmulCheckShape): Kernel[] {
  const families: Kernel[] = FAMILIES.filter(
    (f) =>
      (dtype !== 'f32' || f !== 'subgroup-matrix') &&
      (f !== 'gemv' || (s.layout === 'nt' && s.M <= GEMV_MAX_M)),
  ).map((family) => ({ family }));
  if (dtype !== 'f16' || !subgroupMatrixShape(gpu)) return families;
  return [
    ...families,
    ...SUBGROUP_MATRIX_TILES.slice(1).map((tile) => ({ family: 'subgroup-matrix' as const, tile })),
  ];
}
/** f32 accumulation over K <= 11008 products of values below 1: errors stay near 1e-4. */
const TOL_F32: Tolerance = { atol: 2e-3, rtol: 1e-4 };
/** f16 x f16 products accumulated in f32 on tensor cores (internal rounding may differ from f64). */
const TOL_SUBGROUP_MATRIX: Tolerance = { atol: 2e-2, rtol: 1e-3 };

function roundToF16(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f16BitsToF32(f32ToF16Bits(x[i]));
  return out;
}

/** Row m of op(A) @ op(B) in f64. */
function referenceRow(a: Float32Array, b: Float32Array, s: MatmulCheckShape, m: number): Float64Array {
  const { M, N, K } = s;
  const out = new Float64Array(N);
  const arow = new Float64Array(K);
  for (let k = 0; k < K; k++) arow[k] = s.layout === 'tn' ? a[k * M + m] : a[m * K + k];
  if (s.layout === 'nt') {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      const o = n * K;
      for (let k = 0; k < K; k++) acc += arow[k] * b[o + k];
      out[n] = acc;
    }
  } else {
    for (let k = 0; k < K; k++) {
      const av = arow[k];
      const o = k * N;
      for (let n = 0; n < N; n++) out[n] += av * b[o + n];
    }
  }
  return out;
}

/** The weight B on the device as `dtype` ([rows, cols] as stored) and the values the kernels see. */
function weightOperand(
  gpu: Gpu,
  dtype: MatmulCheckShape['dtypes'][number],
  values: Float32Array,
  [rows, cols]: [number, number],
): { b: Tensor; bSeen: Float32Array } {
  if (dtype === 'f32') return { b: gpu.tensor('f32', [rows, cols], values), bSeen: values };
  if (dtype === 'f16') {
    const bits = Uint16Array.from(values, f32ToF16Bits);
    return { b: gpu.tensor('f16', [rows, cols], bits), bSeen: Float32Array.from(bits, f16BitsToF32) };
  }
  const words = quantizeMatrix(dtype, values, rows, cols);
  return { b: gpu.tensor(dtype, [rows, cols], words), bSeen: dequantizeMatrix(dtype, words, rows, cols) };
}

export async function checkMatmul(gpu: Gpu, smoke: boolean): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  let seed = 11;
  for (const s of matmulCheckShapes(smoke)) {
    const { M, N, K, layout } = s;
    const transA = layout === 'tn';
    const transB = layout === 'nt';
    const rows = sampleIndices(M, 6, seed);
    const aHost = randomF32(M * K, seed++);
    const bValues = randomF32(N * K, seed++);
    for (const dtype of s.dtypes) {
      const name = ({ family: f, tile }: Kernel) =>
        `matmul ${f}${tile ? ` tile ${subgroupMatrixTileName(tile)}` : ''} ${dtype === 'f32' ? 'f32' : `${dtype} weights`} ${layout} M${M} N${N} K${K} (${s.what})`;
      const t0 = performance.now();
      const { b, bSeen } = weightOperand(gpu, dtype, bValues, transB ? [N, K] : [K, N]);
      const refs = rows.map((m) => referenceRow(aHost, bSeen, s, m));
      let refsRoundedA: Float64Array[] | null = null;
      const refSeconds = (performance.now() - t0) / 1000;
      const a = gpu.tensor('f32', transA ? [K, M] : [M, K], aHost);
      const c = gpu.tensor('f32', [M, N]);
      try {
        for (const kernel of kernelsToCheck(gpu, dtype, s)) {
          const { family, tile } = kernel;
          const t1 = performance.now();
          const o = { M, N, K, transA, transB, variant: family, smTile: tile };
          const sm = family === 'subgroup-matrix';
          const tol = sm ? TOL_SUBGROUP_MATRIX : TOL_F32;
          let variant: string;
          try {
            variant = matmulVariant(gpu, { ...o, bDtype: dtype });
          } catch (e) {
            const msg = errorMessage(e);
            results.push({
              name: name(kernel),
              status: /subgroup matri/i.test(msg) ? 'skipped' : 'error',
              maxAbsError: null,
              tolerance: toleranceText(tol),
              detail: /subgroup matri/i.test(msg) ? 'skipped: device lacks subgroup matrices' : msg,
              seconds: 0,
            });
            continue;
          }
          try {
            const rec = gpu.recorder();
            rec.clear(c);
            matmul(rec, a, b, c, o);
            rec.submit();
            const got: Float32Array[] = [];
            for (const m of rows) got.push(new Float32Array(await gpu.readBytes(c.buffer, N * 4, m * N * 4)));
            if (sm && !refsRoundedA) {
              // The kernel rounds A, and decoded quantized weights, to f16 (f16 weights are already).
              const aRounded = roundToF16(aHost);
              const bRounded = isQuantFormat(dtype) ? roundToF16(bSeen) : bSeen;
              refsRoundedA = rows.map((m) => referenceRow(aRounded, bRounded, s, m));
            }
            const want = sm ? refsRoundedA! : refs;
            const merged = combine(rows.map((m, i) => compare(`row ${m}`, got[i], want[i], tol)));
            let detail = `${variant}, rows ${rows.join(',')}: ${merged.message}`;
            if (sm) {
              const exact = combine(rows.map((m, i) => compare(`row ${m}`, got[i], refs[i], tol)));
              detail += `; vs unrounded A: max abs error ${exact.maxAbsError.toExponential(2)}`;
            }
            results.push({
              name: name(kernel),
              status: merged.ok ? 'pass' : 'fail',
              maxAbsError: merged.maxAbsError,
              tolerance: toleranceText(tol),
              detail,
              seconds: (performance.now() - t1) / 1000 + refSeconds,
            });
          } catch (e) {
            results.push({
              name: name(kernel),
              status: 'error',
              maxAbsError: null,
              tolerance: toleranceText(tol),
              detail: `${variant}: ${errorMessage(e)}`,
              seconds: (performance.now() - t1) / 1000,
            });
          }
        }
      } finally {
        a.release();
        b.release();
        c.release();
        gpu.pool.trim();
      }
    }
  }
  return results;
}
