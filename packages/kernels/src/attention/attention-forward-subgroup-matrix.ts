/**
 * The tensor-core attention forward (attention-forward-subgroup-matrix.wgsl): when it applies and how
 * it is dispatched. `attentionForward` picks it for precision 'f16' (the default) on devices with
 * f16 -> f32 subgroup matrices, head dims that are multiples of 16 up to 128, and enough workgroup
 * memory; its outputs equal the f32 kernel's within f16 rounding of q, k, v and the probabilities.
 */
import { flopChunks, type Gpu, type Recorder, type Tensor } from '@llara/gpu';
import sidesCode from '../common/subgroup-matrix-sides.wgsl?raw';
import { withConstants } from '../common/with-constants.ts';
import {
  type SubgroupMatrixShape,
  subgroupMatrixDefines,
  subgroupMatrixShape,
  subgroupMatrixWorkgroupSize,
} from '../matmul/matmul-subgroup-matrix.ts';
import {
  type AttentionOptions,
  type AttentionShape,
  attentionParams,
  foldedGrid,
} from './attention-config.ts';
import ioCode from './attention-forward-io.wgsl?raw';
import code from './attention-forward-subgroup-matrix.wgsl?raw';
import maskCode from './attention-mask.wgsl?raw';
import paramsCode from './attention-params.wgsl?raw';
import type { GpuMask } from './gpu-mask.ts';

/** Constants of attention-forward-subgroup-matrix.wgsl (keep equal): computing subgroups, keys per tile. */
export const ATTENTION_SM_TILE = { NSG: 2, BKV: 32 } as const;

/** Largest head dim of the tensor-core forward (its q, k and v tiles live in workgroup memory). */
export const ATTENTION_SM_MAX_HEAD_DIM = 128;

/** Workgroup memory of the kernel: Qs, Ks, Vs (f16), Ss (f32), Ps (f16). */
export function attentionSubgroupMatrixBytes(headDim: number, sm: number): number {
  const { NSG, BKV } = ATTENTION_SM_TILE;
  const bq = NSG * sm;
  return 2 * bq * headDim + 2 * 2 * BKV * headDim + 4 * bq * BKV + 2 * bq * BKV;
}

/** The matrix shape the tensor-core forward would use for this head dim, or null where it does not apply. */
export function attentionSubgroupMatrixShape(gpu: Gpu, headDim: number): SubgroupMatrixShape | null {
  const s = subgroupMatrixShape(gpu);
  if (!s || headDim % 16 !== 0 || headDim > ATTENTION_SM_MAX_HEAD_DIM) return null;
  if (attentionSubgroupMatrixBytes(headDim, s.M) > gpu.limits.maxComputeWorkgroupStorageSize) return null;
  if (subgroupMatrixWorkgroupSize(gpu, ATTENTION_SM_TILE.NSG) > gpu.limits.maxComputeInvocationsPerWorkgroup)
    return null;
  return s;
}

const SOURCE = `${code}\n${paramsCode}\n${ioCode}\n${maskCode}\n${sidesCode}`;

/** The kernel's WGSL for a head dim (before the `#if` defines of the matrix shape). */
export function attentionSubgroupMatrixSource(headDim: number): string {
  return withConstants(SOURCE, { HD: headDim });
}

/** Records the tensor-core forward (shapes checked by the caller, `attentionForward`). */
export function attentionForwardSubgroupMatrix(
  rec: Recorder,
  tensors: { q: Tensor; k: Tensor; v: Tensor; out: Tensor; lse: Tensor },
  mask: GpuMask,
  s: AttentionShape,
  o: AttentionOptions,
  shape: SubgroupMatrixShape,
): void {
  const gpu = rec.gpu;
  const bq = ATTENTION_SM_TILE.NSG * shape.M;
  const wg = subgroupMatrixWorkgroupSize(gpu, ATTENTION_SM_TILE.NSG);
  const pipeline = gpu.pipeline({
    code: attentionSubgroupMatrixSource(s.hd),
    defines: subgroupMatrixDefines(shape),
    constants: { WG: wg },
    label: `attention-forward-subgroup-matrix-${shape.M}x${shape.N}x${shape.K}`,
  });
  const tiles = Math.ceil(s.seq / bq);
  // Per workgroup: q.k twice (both passes) and p.v once, 2 flops per multiply-add.
  const flops = 6 * bq * s.seq * s.hd;
  for (const range of flopChunks(tiles * s.nh * s.batch, flops, gpu.maxDispatchFlops)) {
    const workgroups = foldedGrid(gpu, range.end - range.first, o);
    rec.dispatch({
      pipeline,
      params: attentionParams(s, mask, { tiles, nx: workgroups[0], chunks: 0 }, range),
      bindings: [tensors.q, tensors.k, tensors.v, mask.table, tensors.out, tensors.lse],
      workgroups,
      label: `attention-forward-subgroup-matrix`,
    });
  }
}
