import { type DType, type Gpu, isQuantFormat, type QuantFormat } from '@llara/gpu';
import weightsWgsl from './weights.wgsl?raw';

/**
 * How a kernel reads a weight tensor of `dtype` on this device. The quantized views (q8, q4, nf4) have
 * only `wloadRC` (element by row and column), which matmul and the embedding gather use, and
 * `wload4RC` (an aligned run of 4 decoded word-wise), which matmul's tile loads use.
 */
export type WeightView = 'f32' | 'f16' | 'f16-packed' | 'bf16-packed' | QuantFormat;

export function weightView(gpu: Gpu, dtype: DType): WeightView {
  switch (dtype) {
    case 'f32':
      return 'f32';
    case 'f16':
      return gpu.has('shader-f16') ? 'f16' : 'f16-packed';
    case 'bf16':
      return 'bf16-packed';
    case 'q8':
    case 'q4':
    case 'nf4':
      return dtype;
    default:
      throw new Error(`Weights of dtype ${dtype} are not supported (f32, f16, bf16, q8, q4, nf4 are)`);
  }
}

/** Defines selecting the `wload` implementation in weights.wgsl. */
export function weightDefines(view: WeightView): Record<string, boolean> {
  return {
    W_F32: view === 'f32',
    W_F16: view === 'f16',
    W_F16_PACKED: view === 'f16-packed',
    W_BF16: view === 'bf16-packed',
    // Kernels compiled without a weight view (elementwise ops sharing a source) get neither.
    W_PLAIN: !isQuantFormat(view),
    W_QUANT: isQuantFormat(view),
    W_Q8: view === 'q8',
    W_Q4: view === 'q4',
    W_NF4: view === 'nf4',
  };
}

/**
 * Prepends the weight-access chunk to a kernel's source. `enable` directives must come first in
 * WGSL, so the chunk (which may `enable f16`) goes before the kernel; a kernel that itself needs
 * `enable f16` must guard it with `#if !W_F16`.
 */
export function withWeights(kernelSource: string): string {
  return `${weightsWgsl}\n${kernelSource}`;
}
