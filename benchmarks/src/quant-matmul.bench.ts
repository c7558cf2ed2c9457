/**
 * `matmul_quant` rows of the kernel suite: y = x W^T with the weight in f16 beside q8 / q4 / nf4
 * (dequantized as each tile loads it; docs/quantization.md), at LLaMA-2-7B projection shapes. Batches of
 * 1 and 8 tokens are GEMV-like and memory-bound (reported as GB/s of the bytes they must read: where
 * 4-bit should win, reading about a quarter of f16's weight bytes); a 2048-token batch is compute-bound
 * (GFLOP/s). The kernel family is the one `matmul` picks by itself for each weight dtype.
 *
 * ```ts
 * for (const m of quantMatmulShapes(false)) ...; // 9 shapes x 4 weight dtypes
 * ```
 */
import { type Gpu, QUANT_FORMATS, type Tensor, tensorByteLength } from '@llara/gpu';
import { matmul, matmulVariant, quantizeMatrix } from '@llara/kernels';
import { randomF16Bits, randomF32 } from './random-data.ts';

export interface QuantMatmulShape {
  M: number;
  N: number;
  K: number;
  what: string;
}

/** Token batches 1, 8 and 2048 on the three projection shapes (smoke: tiny, off-block shapes). */
export function quantMatmulShapes(smoke: boolean, quick = false): QuantMatmulShape[] {
  if (smoke)
    return [
      { M: 1, N: 96, K: 64, what: 'GEMV-like' },
      { M: 8, N: 65, K: 96, what: 'GEMV-like, off-block' },
      { M: 64, N: 96, K: 64, what: 'batch' },
    ];
  const out: QuantMatmulShape[] = [];
  for (const M of [1, 8, 2048]) {
    const kind = M <= 8 ? `GEMV-like batch of ${M}` : `${M}-token batch`;
    out.push({ M, N: 4096, K: 4096, what: `q/k/v/o projection, ${kind}` });
    if (quick) continue;
    out.push({ M, N: 11008, K: 4096, what: `gate/up projection, ${kind}` });
    out.push({ M, N: 4096, K: 11008, what: `down projection, ${kind}` });
  }
  return out;
}

export const QUANT_BENCH_DTYPES = ['f16', ...QUANT_FORMATS] as const;

/** One shape's operands: the activations, a weight per dtype, the output; `t` takes ownership of each. */
export function quantMatmulOperands(gpu: Gpu, m: QuantMatmulShape, seed: number, t: (x: Tensor) => Tensor) {
  const a = t(gpu.tensor('f32', [m.M, m.K], randomF32(m.M * m.K, seed)));
  const c = t(gpu.tensor('f32', [m.M, m.N]));
  const values = randomF32(m.N * m.K, seed + 1);
  const weights = new Map<string, Tensor>([
    ['f16', t(gpu.tensor('f16', [m.N, m.K], randomF16Bits(m.N * m.K, seed + 1)))],
  ]);
  for (const f of QUANT_FORMATS)
    weights.set(f, t(gpu.tensor(f, [m.N, m.K], quantizeMatrix(f, values, m.N, m.K))));
  return {
    a,
    c,
    weights,
    /** Bytes a product must move at least: the weight as stored, the activations and the output. */
    bytes: (dtype: string) => tensorByteLength(weights.get(dtype)!.dtype, [m.N, m.K]) + 4 * m.M * (m.K + m.N),
    variant: (dtype: string) =>
      matmulVariant(gpu, { M: m.M, N: m.N, K: m.K, transB: true, bDtype: weights.get(dtype)!.dtype }),
    record: (rec: Parameters<typeof matmul>[0], dtype: string) =>
      matmul(rec, a, weights.get(dtype)!, c, { M: m.M, N: m.N, K: m.K, transB: true }),
  };
}
