/**
 * The `gemv` matmul family (matmul-gemv.wgsl): y = x W^T with W stored [N, K] for a few tokens, where
 * the product is a matrix-vector product per token and moving the weight is all that costs. `matmul`
 * picks it by itself for transB products with M <= GEMV_MAX_M; `variant: 'gemv'` forces it at any M
 * (8 tokens per pass: the weight is read once per 8 tokens).
 *
 * ```ts
 * matmulVariant(gpu, { M: 1, N: 4096, K: 4096, transB: true, bDtype: 'q4' }); // 'gemv-subgroups-q4-nt'
 * ```
 */
import type { Gpu } from '@llara/gpu';
import { withConstants } from '../common/with-constants.ts';

/**
 * Largest M the automatic choice sends to gemv: up to 8 tokens the weight is read once (one pass of 8
 * token rows), beyond that once per 8 tokens, while the tiled kernels read it once per 32-128 tokens.
 */
export const GEMV_MAX_M = 8;

/** Output columns (rows of W) per workgroup: ROWS in matmul-gemv.wgsl. */
export const GEMV_ROWS = 4;

/**
 * Invocations per workgroup. 64 keeps the workgroup-memory reduction at 8 KiB with 8 token rows (half
 * the default limit) and gives each invocation several runs of a 4096-wide row (16 of f16, 8 of q4),
 * so every invocation has loads in flight; 4096 rows make 1024 workgroups, enough to fill a large GPU.
 */
export const GEMV_WG = 64;

/**
 * Token rows per workgroup for M tokens: the smallest of 1, 4, 8 that holds them (8 past that). Each is
 * a pipeline (the rows unroll), and lavapipe compiles the 8-row one for seconds: three sizes keep the
 * pipelines a model's few-token batches need few, at the cost of some clamped duplicate rows (M = 2, 3,
 * 5-7), which cost arithmetic but no weight bytes.
 */
export function gemvTokenRows(M: number): number {
  if (M <= 1) return 1;
  if (M <= 4) return 4;
  return 8;
}

/** How the workgroup combines its partial sums: subgroupAdd where the device has subgroups. */
export function gemvReduction(gpu: Gpu): 'subgroups' | 'workgroup' {
  return gpu.has('subgroups') ? 'subgroups' : 'workgroup';
}

/** The kernel source for `tokenRows` token rows per workgroup, given the shared chunks (matmul.ts). */
export function gemvCode(source: string, tokenRows: number): string {
  return withConstants(source, { MT: tokenRows, GWG: GEMV_WG });
}

/** The `enable` line of the subgroup reduction: it must precede every declaration of the module. */
export const GEMV_ENABLE = '#if SUBGROUPS\nenable subgroups;\n#endif\n';
