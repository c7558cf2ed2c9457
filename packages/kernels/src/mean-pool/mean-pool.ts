/**
 * Mean pooling over gathered rows (the `flag` recipe's embedding: the mean of the final hidden states
 * at the 8 special positions) and its backward.
 *
 * Shapes (row-major): h, dh f32 [R, dim] (e.g. R = batch * seqLen); rows i32 [groups * positions],
 * indices into h's rows, distinct; out, dOut f32 [groups, dim].
 *   out[g, :] = (1/P) * sum_p h[rows[g*P + p], :]
 *   backward: dh[rows[g*P + p], :] += dOut[g, :] / P   (accumulates: zero dh first, e.g. `rec.clear(dh)`)
 * Row indices are not range-checked on the GPU (WebGPU clamps out-of-bounds accesses); build them
 * with `meanPoolRows` or check them on the CPU.
 *
 * ```ts
 * // the last 8 positions of each left-padded sequence of length T
 * const rows = gpu.tensor('i32', [B * 8], meanPoolRows(B, T, 8));
 * meanPool(rec, hidden, rows, pooled, { groups: B, positions: 8, dim: 4096 });
 * ```
 */
import { type Gpu, grid1d, params, type Recorder, type Tensor } from '@llara/gpu';
import { expectSize } from '../cross-entropy/expect-size.ts';
import code from './mean-pool.wgsl?raw';

export interface MeanPoolOptions {
  groups: number;
  positions: number;
  dim: number;
}

const WG = 64;

function pipeline(gpu: Gpu, backward: boolean): GPUComputePipeline {
  return gpu.pipeline({
    code,
    label: backward ? 'mean-pool-backward' : 'mean-pool',
    defines: { BACKWARD: backward },
  });
}

function check(h: Tensor, rows: Tensor, out: Tensor, o: MeanPoolOptions, hName: string, outName: string) {
  if (o.positions < 1) throw new Error(`meanPool needs at least one position per group, got ${o.positions}.`);
  if (h.dtype !== 'f32' || h.size % o.dim !== 0) {
    throw new Error(`The ${hName} tensor must be f32 with rows of ${o.dim} values, but it is ${h}.`);
  }
  expectSize(rows, o.groups * o.positions, 'rows', 'i32');
  expectSize(out, o.groups * o.dim, outName, 'f32');
}

export function meanPool(rec: Recorder, h: Tensor, rows: Tensor, out: Tensor, o: MeanPoolOptions): void {
  check(h, rows, out, o, 'h', 'out');
  const workgroups = grid1d(o.groups * o.dim, WG, rec.gpu.limits.maxComputeWorkgroupsPerDimension);
  rec.dispatch({
    pipeline: pipeline(rec.gpu, false),
    params: params([o.groups, o.positions, o.dim, workgroups[0] * WG]),
    bindings: [rows, h, out],
    workgroups,
    label: 'mean-pool',
  });
}

export function meanPoolBackward(
  rec: Recorder,
  dOut: Tensor,
  rows: Tensor,
  dh: Tensor,
  o: MeanPoolOptions,
): void {
  check(dh, rows, dOut, o, 'dh', 'dOut');
  const workgroups = grid1d(
    o.groups * o.positions * o.dim,
    WG,
    rec.gpu.limits.maxComputeWorkgroupsPerDimension,
  );
  rec.dispatch({
    pipeline: pipeline(rec.gpu, true),
    params: params([o.groups, o.positions, o.dim, workgroups[0] * WG]),
    bindings: [rows, dOut, dh],
    workgroups,
    label: 'mean-pool-backward',
  });
}

/**
 * Row indices of the last `positions` positions of each of `groups` sequences of length `seqLen`
 * laid out one after another (h = [groups * seqLen, dim]), as left-padded `flag` batches need.
 */
export function meanPoolRows(groups: number, seqLen: number, positions: number): Int32Array {
  if (positions > seqLen) throw new Error(`Cannot pool the last ${positions} of ${seqLen} positions.`);
  const rows = new Int32Array(groups * positions);
  for (let g = 0; g < groups; g++) {
    for (let p = 0; p < positions; p++) rows[g * positions + p] = g * seqLen + seqLen - positions + p;
  }
  return rows;
}
