/**
 * How the attention kernels map rows onto invocations, per device and head dim.
 *
 * plain:     one row (a query row, or a key row in the dK/dV kernel) per invocation, which keeps the
 *            row's head dim in private arrays (2-4 x headDim floats); no subgroup operations.
 * subgroups: each row is split over LANES adjacent lanes of one subgroup (about 2 vec4 chunks per
 *            lane per array), dot products finished by subgroupShuffleXor. Same arithmetic with a
 *            sixteenth of the per-invocation state at headDim 128, which keeps a GPU from spilling.
 * Chunk loops are unrolled only up to 4 chunks; longer rows loop over a uniform count, which keeps
 * their arrays in memory (llvmpipe takes seconds to compile 16 unrolled chunks per array).
 */
import type { Gpu } from '@llara/gpu';
import { type AttentionOptions, type AttentionVariant, tileRows } from './attention-config.ts';

export interface AttentionLayout {
  variant: AttentionVariant;
  /** Invocations per row; their head-dim chunks are interleaved (lane l owns chunks l, l+LANES, ...). */
  lanes: number;
  /** vec4 chunks per lane: ceil(ceil(headDim / 4) / lanes). */
  chunks: number;
  /** Invocations per workgroup (<= 256). */
  workgroup: number;
  /** Rows per workgroup: workgroup / lanes. */
  rows: number;
  /** Whether chunk loops are unrolled (chunks <= 4). */
  unroll: boolean;
  /** Keys per workgroup-memory tile in the forward and dQ kernels (K and V tiles within 16 KiB). */
  keyTile: number;
  /** Queries per tile in the dK/dV kernel (Q and dOut tiles plus lse and D within 16 KiB). */
  queryTile: number;
}

/**
 * Chunks per lane the subgroup layout aims for: 2 vec4 = 8 floats per private array (16 lanes per row
 * at headDim 128, as warp-per-row CUDA kernels do). On llvmpipe 4 chunks compile twice as slowly.
 */
const CHUNKS_PER_LANE = 2;
/** Longest chunk loop that is unrolled (beyond it, loops run over a uniform count: see attention-lanes.wgsl). */
const UNROLL_CHUNKS = 4;

function nextPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

function layout(variant: AttentionVariant, hd: number, lanes: number): AttentionLayout {
  const hd4 = Math.ceil(hd / 4);
  const workgroup = Math.min(256, 64 * lanes);
  const chunks = Math.ceil(hd4 / lanes);
  return {
    variant,
    lanes,
    chunks,
    workgroup,
    rows: workgroup / lanes,
    unroll: chunks <= UNROLL_CHUNKS,
    keyTile: tileRows(lanes * chunks),
    queryTile: tileRows(lanes * chunks, 8),
  };
}

/**
 * The layout for this device and head dim: `variant` forces one (throws if the device cannot run
 * it); otherwise subgroups when the device has them and a row has more than 2 chunks (headDim > 8):
 * on llvmpipe that ran hd 64 about twice as fast as plain, and plain was faster at hd 8.
 */
export function attentionLayout(gpu: Gpu, o: Pick<AttentionOptions, 'headDim' | 'variant'>): AttentionLayout {
  const hd = o.headDim;
  const sg = gpu.has('subgroups') ? gpu.subgroupMinSize : 0;
  const wanted = nextPow2(Math.ceil(Math.ceil(hd / 4) / CHUNKS_PER_LANE));
  if (o.variant === 'subgroups') {
    if (sg < 2) {
      throw new Error(
        'The subgroups attention variant needs the subgroups feature, which this device lacks.',
      );
    }
    return layout('subgroups', hd, Math.min(Math.max(2, wanted), sg));
  }
  if (o.variant === 'plain' || sg < 2 || wanted < 2) return layout('plain', hd, 1);
  return layout('subgroups', hd, Math.min(wanted, sg));
}

/** Defines for the kernels' `#if SUBGROUPS`. */
export function layoutDefines(l: AttentionLayout): Record<string, boolean> {
  return { SUBGROUPS: l.lanes > 1, UNROLL: l.unroll };
}

/** Constants every attention kernel takes from its layout (appended with `withConstants`). */
export function layoutConstants(l: AttentionLayout, hd: number): Record<string, number> {
  return {
    HD: hd,
    HD4: Math.ceil(hd / 4),
    HD4P: l.lanes * l.chunks,
    LANES: l.lanes,
    CHUNKS: l.chunks,
    WG: l.workgroup,
    ROWS: l.rows,
  };
}
