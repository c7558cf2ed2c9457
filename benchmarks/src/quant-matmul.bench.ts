/**
 * `matmul_quant` rows of the kernel suite: the weight in f16 beside q8 / q4 / nf4 (dequantized as each
 * tile loads it; docs/quantization.md), at LLaMA-2-7B projection shapes. The forward y = x W^T at
 * batches of 1 and 8 tokens is GEMV-like and memory-bound (reported as GB/s of the bytes it must read:
 * where 4-bit should win, reading about a quarter of f16's weight bytes); at 2048 tokens it is
 * compute-bound (GFLOP/s), and so is the input gradient dX = dY W of QLoRA training (layout `nn`).
 * Each dtype runs the kernel `matmul` picks by itself; where that is the tensor-core (subgroup-matrix)
 * kernel, a second row runs the f32 kernel `precision: 'f32'` picks, and where it is the few-token
 * `gemv` kernel (batches of 1 and 8), a second row runs `reg4x4`, the kernel those batches ran before
 * gemv, so each pair stands side by side.
 *
 * ```ts
 * for (const m of quantMatmulShapes(false)) for (const d of QUANT_BENCH_DTYPES)
 *   for (const run of quantMatmulRuns(gpu, m, d)) ...; // 10 shapes x 4 weight dtypes x 1-2 kernels
 * ```
 */
import { type DType, type Gpu, QUANT_FORMATS, type Tensor, tensorByteLength } from '@llara/gpu';
import { matmul, matmulVariant, quantizeMatrix } from '@llara/kernels';
import { randomF16Bits, randomF32 } from './random-data.ts';

export interface QuantMatmulShape {
  M: number;
  N: number;
  K: number;
  /** 'nt': y = x W^T, W stored [N, K]; 'nn': dX = dY W, W stored [K, N]. */
  layout: 'nt' | 'nn';
  what: string;
}

/**
 * Token batches 1, 8 and 2048 on the three projection shapes, and the input gradient through the
 * q/k/v/o projection at 2048 tokens (smoke: tiny, off-block shapes).
 */
export function quantMatmulShapes(smoke: boolean, quick = false): QuantMatmulShape[] {
  if (smoke)
    return [
      { M: 1, N: 96, K: 64, layout: 'nt', what: 'GEMV-like' },
      { M: 8, N: 65, K: 96, layout: 'nt', what: 'GEMV-like, off-block' },
      { M: 64, N: 96, K: 64, layout: 'nt', what: 'batch' },
      { M: 64, N: 65, K: 48, layout: 'nn', what: 'input gradient, off-block' },
    ];
  const out: QuantMatmulShape[] = [];
  for (const M of [1, 8, 2048]) {
    const kind = M <= 8 ? `GEMV-like batch of ${M}` : `${M}-token batch`;
    out.push({ M, N: 4096, K: 4096, layout: 'nt', what: `q/k/v/o projection, ${kind}` });
    if (quick) continue;
    out.push({ M, N: 11008, K: 4096, layout: 'nt', what: `gate/up projection, ${kind}` });
    out.push({ M, N: 4096, K: 11008, layout: 'nt', what: `down projection, ${kind}` });
  }
  out.push({
    M: 2048,
    N: 4096,
    K: 4096,
    layout: 'nn',
    what: 'q/k/v/o input gradient dX = dY W, 2048 tokens',
  });
  return out;
}

/** One timed kernel of a shape and weight dtype: the key's last part, and the `matmul` options. */
export interface QuantMatmulRun {
  /**
   * '' for the kernel `matmul` picks by itself, '|f32' for the f32 alternative beside tensor cores,
   * '|reg4x4' for the register-tiled kernel beside gemv.
   */
  keySuffix: string;
  precision: 'f16' | 'f32';
  /** A family forced with `variant` (the '|reg4x4' row); undefined: `matmul` chooses. */
  family?: string;
  /** The kernel, as `matmulVariant` names it. */
  variant: string;
}

/** The kernels a shape's `dtype` rows time (see the top of this file). */
export function quantMatmulRuns(gpu: Gpu, m: QuantMatmulShape, dtype: string): QuantMatmulRun[] {
  const o = { M: m.M, N: m.N, K: m.K, transB: m.layout === 'nt', bDtype: dtype as DType };
  const auto = matmulVariant(gpu, { ...o, precision: 'f16' });
  const runs: QuantMatmulRun[] = [{ keySuffix: '', precision: 'f16', variant: auto }];
  const f32 = matmulVariant(gpu, { ...o, precision: 'f32' });
  if (f32 !== auto) runs.push({ keySuffix: '|f32', precision: 'f32', variant: f32 });
  if (auto.startsWith('gemv')) {
    const family = 'reg4x4';
    runs.push({
      keySuffix: `|${family}`,
      precision: 'f16',
      family,
      variant: matmulVariant(gpu, { ...o, variant: family }),
    });
  }
  return runs;
}

export const QUANT_BENCH_DTYPES = ['f16', ...QUANT_FORMATS] as const;

/** One shape's operands: the activations, a weight per dtype, the output; `t` takes ownership of each. */
export function quantMatmulOperands(gpu: Gpu, m: QuantMatmulShape, seed: number, t: (x: Tensor) => Tensor) {
  const transB = m.layout === 'nt';
  // The weight as stored: [N, K] for y = x W^T, [K, N] for dX = dY W (blocks along its columns).
  const [rows, cols] = transB ? [m.N, m.K] : [m.K, m.N];
  const a = t(gpu.tensor('f32', [m.M, m.K], randomF32(m.M * m.K, seed)));
  const c = t(gpu.tensor('f32', [m.M, m.N]));
  const values = randomF32(rows * cols, seed + 1);
  const weights = new Map<string, Tensor>([
    ['f16', t(gpu.tensor('f16', [rows, cols], randomF16Bits(rows * cols, seed + 1)))],
  ]);
  for (const f of QUANT_FORMATS)
    weights.set(f, t(gpu.tensor(f, [rows, cols], quantizeMatrix(f, values, rows, cols))));
  return {
    a,
    c,
    weights,
    /** Bytes a product must move at least: the weight as stored, the activations and the output. */
    bytes: (dtype: string) =>
      tensorByteLength(weights.get(dtype)!.dtype, [rows, cols]) + 4 * m.M * (m.K + m.N),
    record: (
      rec: Parameters<typeof matmul>[0],
      dtype: string,
      precision: 'f16' | 'f32' = 'f16',
      variant?: string,
    ) => matmul(rec, a, weights.get(dtype)!, c, { M: m.M, N: m.N, K: m.K, transB, precision, variant }),
  };
}
