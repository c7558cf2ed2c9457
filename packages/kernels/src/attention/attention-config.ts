/**
 * What the attention kernels share: options, shape checks, compile-time constants and the folded
 * workgroup grid.
 */
import { type Gpu, grid1d, params, type Tensor } from '@llara/gpu';
import type { GpuMask } from './gpu-mask.ts';

/** `plain`: one query row per invocation, f32 everywhere. `subgroups`: a row's head dim is split over lanes. */
export type AttentionVariant = 'plain' | 'subgroups';

export interface AttentionOptions {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Multiplies q.k before the softmax; default 1/sqrt(headDim). */
  scale?: number;
  /** Force an f32 kernel variant (tests, benchmarks); default: the best the device offers. */
  variant?: AttentionVariant;
  /**
   * 'f16' (default) lets the forward and the backward run on f16 tensor cores (subgroup matrices) where
   * the device has them, rounding q, k, v, dOut (scaled) and the probabilities to f16; 'f32' keeps the
   * f32 kernels. Use the same precision for a forward and its backward: the backward recomputes the
   * scores against the forward's lse.
   */
  precision?: 'f16' | 'f32';
  /** Fold grids at this many workgroups per dimension instead of the device limit (tests). */
  maxWorkgroupsPerDim?: number;
}

/** Largest head dim the kernels take: keeps the per-invocation arrays and tiles within limits. */
export const MAX_HEAD_DIM = 256;
/** Workgroup memory the kernels may use: WebGPU's default limit. */
const WORKGROUP_BYTES = 16384;

export interface AttentionShape {
  batch: number;
  seq: number;
  rows: number;
  nh: number;
  nkv: number;
  hd: number;
  scale: number;
}

/** Validates the options and the tensors against the mask; returns the shape the kernels use. */
export function attentionShape(
  mask: GpuMask,
  o: AttentionOptions,
  tensors: [Tensor, 'q' | 'kv', string][],
): AttentionShape {
  const { numHeads: nh, numKvHeads: nkv, headDim: hd } = o;
  const ints = [nh, nkv, hd].every((x) => Number.isInteger(x) && x > 0);
  if (!ints || nh % nkv !== 0) {
    throw new Error(
      `Attention needs positive integer heads with numHeads a multiple of numKvHeads (got ${nh}, ${nkv}, headDim ${hd}).`,
    );
  }
  if (hd > MAX_HEAD_DIM) throw new Error(`Attention supports headDim up to ${MAX_HEAD_DIM}, not ${hd}.`);
  const { batch, seqLen: seq } = mask.desc;
  const rows = batch * seq;
  if (mask.table.size !== 6 * batch) {
    throw new Error(
      `Attention mask table has ${mask.table.size} entries; a batch of ${batch} needs ${6 * batch}.`,
    );
  }
  for (const [t, kind, name] of tensors) {
    const want = rows * (kind === 'q' ? nh : nkv) * hd;
    if (t.dtype !== 'f32' || t.size !== want) {
      throw new Error(
        `Attention ${name} must be f32 with ${want} elements ([${rows}, ${kind === 'q' ? nh : nkv}*${hd}]), got ${t}.`,
      );
    }
  }
  return { batch, seq, rows, nh, nkv, hd, scale: o.scale ?? 1 / Math.sqrt(hd) };
}

export function lseSizeCheck(lse: Tensor, s: AttentionShape): void {
  if (lse.dtype !== 'f32' || lse.size !== s.nh * s.rows) {
    throw new Error(`Attention lse must be f32 [${s.nh}, ${s.rows}], got ${lse}.`);
  }
}

/** Keys (or queries) per workgroup-memory tile when two tiles of rows `vec4s` wide share 16 KiB. */
export function tileRows(vec4s: number, extraBytesPerRow = 0): number {
  return Math.max(1, Math.min(64, Math.floor(WORKGROUP_BYTES / (32 * vec4s + extraBytesPerRow))));
}

/** Whether these options let attention run on tensor cores: precision 'f16' and no forced f32 variant. */
export function allowsTensorCores(o: AttentionOptions): boolean {
  return o.precision !== 'f32' && o.variant === undefined;
}

/** Workgroups for `count` flat groups, folded into 2-D; the kernel unfolds with `wid.x + wid.y * nx`. */
export function foldedGrid(gpu: Gpu, count: number, o: AttentionOptions): [number, number] {
  const max = Math.min(
    o.maxWorkgroupsPerDim ?? Number.POSITIVE_INFINITY,
    gpu.limits.maxComputeWorkgroupsPerDimension,
  );
  return grid1d(count, 1, max);
}

/**
 * The Params of the attention kernels (attention-params.wgsl): shape, mask flags, the tiling, and this
 * dispatch's range of flattened workgroups.
 */
export function attentionParams(
  s: AttentionShape,
  mask: GpuMask,
  grid: { tiles: number; nx: number; chunks: number },
  range: { first: number; end: number },
): Uint32Array {
  const { tiles, nx, chunks } = grid;
  const causal = mask.desc.causal ? 1 : 0;
  const negInf = { f32: Number.NEGATIVE_INFINITY };
  return params([
    s.batch,
    s.seq,
    s.nh,
    s.nkv,
    { f32: s.scale },
    causal,
    tiles,
    nx,
    chunks,
    range.first,
    range.end,
    negInf,
  ]);
}
