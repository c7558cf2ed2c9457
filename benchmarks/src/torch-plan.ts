/**
 * The PyTorch side of each comparison, as data: `device-main plan` writes these specs and
 * `benchmarks/gpu/torch_bench.py --plan FILE` measures exactly them, so the keys of both sides match by
 * construction (the WGSL rows list the keys they compare with in `BenchRow.torch`).
 */

export type TorchDType = 'fp32' | 'fp16' | 'bf16';

/** One PyTorch measurement: `op` selects the Python function, the other fields are its arguments. */
export interface TorchSpec {
  key: string;
  op: string;
  dtype: TorchDType;
  [arg: string]: string | number | boolean;
}

export function matmulTorchKey(M: number, N: number, K: number, layout: string, dtype: TorchDType): string {
  return `matmul|M${M}xN${N}xK${K}|${layout}|${dtype}`;
}

export function attentionTorchKey(
  pass: 'forward' | 'backward',
  a: { B: number; H: number; KV: number; T: number; D: number },
  dtype: TorchDType,
): string {
  return `attention_${pass}|B${a.B}xH${a.H}xKV${a.KV}xT${a.T}xD${a.D}|causal|${dtype}`;
}

/** Keys for shape-only kernels: `${op}|${shape}|${dtype}`. */
export function simpleTorchKey(op: string, shape: string, dtype: TorchDType): string {
  return `${op}|${shape}|${dtype}`;
}
