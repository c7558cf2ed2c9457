/**
 * Top-k per row on the GPU: the best `k` columns of each row of a score matrix, best first.
 *
 * Shapes (row-major, last dimension contiguous): `scores` f32 [rows, cols]; `outIndex` i32 [rows, k];
 * `outScore` f32 [rows, k]. Order: score descending, equal scores by lower column first, NaN last;
 * when k > cols the tail is index -1, score -Infinity. 1 <= k <= 1000.
 *
 * Each row is split into S segments (S chosen from the shape so the GPU is busy and the merge stays
 * small, about sqrt(cols / k)); one workgroup keeps a segment's top-k, and when S > 1 a second
 * dispatch merges the S lists of each row. Works on WebGPU's default limits (16 KiB workgroup memory,
 * 256 invocations). With `subgroups` candidates are appended with one atomic per subgroup.
 *
 * ```ts
 * const idx = gpu.tensor('i32', [q, 10]);
 * const val = gpu.tensor('f32', [q, 10]);
 * topk(rec, scores, idx, val, { rows: q, cols: n, k: 10 });
 * ```
 */
import { type Gpu, grid1d, params, type Recorder, type Tensor } from '@llara/gpu';
import code from './topk.wgsl?raw';

/** Largest k the kernel supports (its kept list lives in workgroup memory). */
export const TOPK_MAX_K = 1000;

export interface TopkOptions {
  rows: number;
  cols: number;
  k: number;
  /** Segments per row; by default chosen from the shape. Mostly for tests and tuning. */
  segments?: number;
}

/** Workgroups worth launching at once on a GPU; more segments only grow the merge. */
const TARGET_GROUPS = 1024;
/**
 * The same on a software adapter (lavapipe, SwiftShader): it runs a few workgroups at a time, one per
 * CPU thread, so extra segments only add merge work (measured on lavapipe, 8 x 100k: 1 segment ~0.2 s,
 * 32 segments ~2.5 s).
 */
const SOFTWARE_TARGET_GROUPS = 8;
/** Columns below which a row is one segment. */
const SINGLE_SEGMENT_COLS = 8192;
/** Scratch for the segment lists, in (key, column) pairs (8 MiB); rows are processed in blocks that fit. */
const SCRATCH_PAIRS = 1 << 20;

/**
 * Segments per row for a shape: about sqrt(cols / k) balances segment length against merge size, capped
 * by how many workgroups the device runs at once (`targetGroups`, see `topkTargetGroups`).
 */
export function topkSegments(rows: number, cols: number, k: number, targetGroups = TARGET_GROUPS): number {
  if (cols <= SINGLE_SEGMENT_COLS) return 1;
  const balanced = Math.round(Math.sqrt(cols / k));
  const byOccupancy = Math.floor(targetGroups / rows);
  const byLength = Math.floor(cols / 2048);
  return Math.max(1, Math.min(balanced, byOccupancy, byLength));
}

/** Workgroups worth launching at once on this device: far fewer on a software (CPU) adapter. */
export function topkTargetGroups(gpu: Gpu): number {
  return gpu.caps.isFallbackAdapter ? SOFTWARE_TARGET_GROUPS : TARGET_GROUPS;
}

/** The plan `topk` follows for a shape on this device, for logs and benchmarks. */
export function describeTopk(gpu: Gpu, o: TopkOptions): string {
  const { segs } = segmentPlan(gpu, o);
  const append = gpu.has('subgroups') ? 'subgroup append' : 'workgroup-atomic append';
  const plan = segs === 1 ? '1 segment per row' : `${segs} segments per row + merge`;
  return `topk [${o.rows} x ${o.cols}] k=${o.k}: ${plan}, ${append}`;
}

/** Segment length and count (every segment non-empty) for the requested or default segment count. */
function segmentPlan(gpu: Gpu, o: TopkOptions): { segs: number; segLen: number } {
  const requested = o.segments ?? topkSegments(o.rows, o.cols, o.k, topkTargetGroups(gpu));
  const segLen = Math.ceil(o.cols / Math.max(1, Math.min(requested, o.cols)));
  return { segs: Math.ceil(o.cols / segLen), segLen };
}

/**
 * Segment lists of one device, shared by every call: dispatches on a device run in queue order. A
 * buffer outgrown is dropped, not destroyed or pooled, so work already recorded with it stays valid.
 */
const scratchByGpu = new WeakMap<Gpu, Tensor>();

function scratchFor(gpu: Gpu, pairs: number): Tensor {
  const have = scratchByGpu.get(gpu);
  if (have && have.size >= 2 * pairs) return have;
  const size = 2 ** Math.ceil(Math.log2(Math.max(pairs, 512)));
  const t = gpu.tensor('u32', [2 * size], undefined, { label: 'topk lists', pooled: false });
  scratchByGpu.set(gpu, t);
  return t;
}

export function topk(
  rec: Recorder,
  scores: Tensor,
  outIndex: Tensor,
  outScore: Tensor,
  o: TopkOptions,
): void {
  const { rows, cols, k } = o;
  for (const [v, name] of [
    [rows, 'rows'],
    [cols, 'cols'],
    [k, 'k'],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`topk: ${name} must be a positive integer, got ${v}.`);
  }
  if (k > TOPK_MAX_K) throw new Error(`topk: k = ${k} is more than the ${TOPK_MAX_K} this kernel supports.`);
  if (cols >= 0xffffffff) throw new Error(`topk: cols = ${cols} does not fit a u32 column index.`);
  if (scores.dtype !== 'f32' || scores.size !== rows * cols) {
    throw new Error(`topk: scores ${scores} must be f32 with rows * cols = ${rows * cols} elements.`);
  }
  if (outIndex.dtype !== 'i32' || outIndex.size !== rows * k) {
    throw new Error(`topk: outIndex ${outIndex} must be i32 with rows * k = ${rows * k} elements.`);
  }
  if (outScore.dtype !== 'f32' || outScore.size !== rows * k) {
    throw new Error(`topk: outScore ${outScore} must be f32 with rows * k = ${rows * k} elements.`);
  }
  const gpu = rec.gpu;
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  const { segs, segLen } = segmentPlan(gpu, o);
  const subgroups = gpu.has('subgroups');
  const pass1 = gpu.pipeline({ code, label: 'topk', defines: { SUBGROUPS: subgroups, MERGE: false } });

  if (segs === 1) {
    const [nx, ny] = grid1d(rows, 1, maxDim);
    rec.dispatch({
      pipeline: pass1,
      params: params([rows, cols, k, 1, segLen, 1, nx, 0, { f32: Number.NEGATIVE_INFINITY }]),
      bindings: [scores, scratchFor(gpu, 1), outIndex, outScore],
      workgroups: [nx, ny],
      label: 'topk',
    });
    return;
  }

  const merge = gpu.pipeline({ code, label: 'topk-merge', defines: { SUBGROUPS: subgroups, MERGE: true } });
  const rowsPerBlock = Math.max(1, Math.min(rows, Math.floor(SCRATCH_PAIRS / (segs * k))));
  const lists = scratchFor(gpu, rowsPerBlock * segs * k);
  for (let r0 = 0; r0 < rows; r0 += rowsPerBlock) {
    const n = Math.min(rowsPerBlock, rows - r0);
    const [nx1, ny1] = grid1d(n * segs, 1, maxDim);
    rec.dispatch({
      pipeline: pass1,
      params: params([n, cols, k, segs, segLen, 0, nx1, r0, { f32: Number.NEGATIVE_INFINITY }]),
      bindings: [scores, lists, outIndex, outScore],
      workgroups: [nx1, ny1],
      label: 'topk',
    });
    const [nx2, ny2] = grid1d(n, 1, maxDim);
    rec.dispatch({
      pipeline: merge,
      params: params([n, cols, k, segs, segLen, 1, nx2, r0, { f32: Number.NEGATIVE_INFINITY }]),
      bindings: [lists, scores, outIndex, outScore],
      workgroups: [nx2, ny2],
      label: 'topk-merge',
    });
  }
}
