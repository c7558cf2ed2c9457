/**
 * Attention backward (flash style: probabilities recomputed from the forward's lse, no T x T matrix,
 * no float atomics). Three dispatches: per-row statistics (lse and D = dOut . out into one scratch
 * tensor), dQ (one query row per invocation group, keys streamed), dK and dV (one key row per
 * invocation group, the queries of every head sharing the kv head streamed, so GQA heads are summed
 * in registers).
 *
 * Shapes (row-major, f32, row = token slot b*T + i), as in attention-forward.ts:
 *   q, out, dOut, dq [B*T, numHeads*headDim]   k, v, dk, dv [B*T, numKvHeads*headDim]   lse [numHeads, B*T]
 * dq, dk, dv are overwritten with the gradients of sum(out * dOut); rows the mask hides get zeros.
 *
 * ```ts
 * attentionForward(rec, q, k, v, out, lse, mask, opts);
 * // ... later, with dOut from the layer above:
 * attentionBackward(rec, q, k, v, out, dOut, lse, dq, dk, dv, mask, opts);
 * rec.submit();
 * ```
 */
import { flopChunks, type Gpu, grid1d, params, type Recorder, type Tensor } from '@llara/gpu';
import { withConstants } from '../common/with-constants.ts';
import dkdvCode from './attention-backward-dkdv.wgsl?raw';
import dqCode from './attention-backward-dq.wgsl?raw';
import inputsCode from './attention-backward-inputs.wgsl?raw';
import statsCode from './attention-backward-stats.wgsl?raw';
import {
  attentionBackwardSubgroupMatrix,
  attentionBackwardSubgroupMatrixShape,
} from './attention-backward-subgroup-matrix.ts';
import {
  type AttentionOptions,
  allowsTensorCores,
  attentionParams,
  attentionShape,
  foldedGrid,
  lseSizeCheck,
} from './attention-config.ts';
import lanesCode from './attention-lanes.wgsl?raw';
import { type AttentionLayout, attentionLayout, layoutConstants, layoutDefines } from './attention-layout.ts';
import maskCode from './attention-mask.wgsl?raw';
import paramsCode from './attention-params.wgsl?raw';
import { rowAccess } from './attention-rows.ts';
import type { GpuMask } from './gpu-mask.ts';

const LOADS = { load_q4: 'q', load_k4: 'k', load_v4: 'v', load_do4: 'dout' };
const DQ_SOURCE = `${dqCode}\n${paramsCode}\n${inputsCode}\n${maskCode}\n${lanesCode}\n${rowAccess({ load: LOADS, store: { store_dq4: 'dq' } })}`;
const DKDV_SOURCE = `${dkdvCode}\n${paramsCode}\n${inputsCode}\n${maskCode}\n${lanesCode}\n${rowAccess({
  load: LOADS,
  store: { store_dk4: 'dk', store_dv4: 'dv' },
})}`;

/** The f32 dQ and dK/dV kernels (the tensor-core path has its own). */
function f32Pipelines(gpu: Gpu, l: AttentionLayout, hd: number) {
  const consts = layoutConstants(l, hd);
  const defines = layoutDefines(l);
  return {
    dq: gpu.pipeline({
      code: withConstants(DQ_SOURCE, { ...consts, KT: l.keyTile }),
      defines,
      label: `attention-backward-dq-${l.variant}`,
    }),
    dkdv: gpu.pipeline({
      code: withConstants(DKDV_SOURCE, { ...consts, QT: l.queryTile }),
      defines,
      label: `attention-backward-dkdv-${l.variant}`,
    }),
  };
}

/**
 * Gradients: dq [B*T, nH*hd], dk, dv [B*T, nKV*hd] (overwritten, GQA heads summed). Reads q, k, v,
 * out, dOut and the forward's lse; borrows an f32 [3 * nH * B*T + nKV] scratch from the pool. With
 * precision 'f16' (the default) on devices with f16 subgroup matrices the tensor-core kernels run
 * (attention-backward-subgroup-matrix.ts): pair them with the tensor-core forward.
 */
export function attentionBackward(
  rec: Recorder,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  dOut: Tensor,
  lse: Tensor,
  dq: Tensor,
  dk: Tensor,
  dv: Tensor,
  mask: GpuMask,
  o: AttentionOptions,
): void {
  const s = attentionShape(mask, o, [
    [q, 'q', 'q'],
    [k, 'kv', 'k'],
    [v, 'kv', 'v'],
    [out, 'q', 'out'],
    [dOut, 'q', 'dOut'],
    [dq, 'q', 'dq'],
    [dk, 'kv', 'dk'],
    [dv, 'kv', 'dv'],
  ]);
  lseSizeCheck(lse, s);
  const gpu = rec.gpu;
  // [lse | D | amax] per (head, row), then the tensor-core kernels' dOut scale per kv head.
  const stats = gpu.tensor('f32', [3 * s.nh * s.rows + s.nkv], undefined, { label: 'attention-stats' });

  const statsGrid = grid1d(
    Math.ceil((s.nh * s.rows) / 64),
    1,
    Math.min(o.maxWorkgroupsPerDim ?? Number.POSITIVE_INFINITY, gpu.limits.maxComputeWorkgroupsPerDimension),
  );
  rec.dispatch({
    pipeline: gpu.pipeline({
      code: withConstants(statsCode, { HD: s.hd }),
      label: 'attention-backward-stats',
    }),
    params: params([s.rows, s.nh, statsGrid[0]]),
    bindings: [out, dOut, lse, stats],
    workgroups: statsGrid,
    label: 'attention-backward-stats',
  });

  const tensorCores = allowsTensorCores(o) ? attentionBackwardSubgroupMatrixShape(gpu, s.hd) : null;
  if (tensorCores) {
    attentionBackwardSubgroupMatrix(rec, { q, k, v, dOut, stats, dq, dk, dv }, mask, s, o, tensorCores);
    stats.release();
    return;
  }

  const l = attentionLayout(gpu, o);
  const p = f32Pipelines(gpu, l, s.hd);

  // Per workgroup, ROWS rows against up to `seq` others: dq recomputes p and dp (3 products of 2 flops),
  // dK/dV does so for every query head of its group (4 products).
  const tiles = Math.ceil(s.seq / l.rows);
  const perRow = l.rows * s.seq * s.hd;
  for (const range of flopChunks(tiles * s.nh * s.batch, 6 * perRow, gpu.maxDispatchFlops)) {
    const grid = foldedGrid(gpu, range.end - range.first, o);
    rec.dispatch({
      pipeline: p.dq,
      params: attentionParams(s, mask, { tiles, nx: grid[0], chunks: l.chunks }, range),
      bindings: [q, k, v, dOut, stats, mask.table, dq],
      workgroups: grid,
      label: `attention-backward-dq-${l.variant}`,
    });
  }
  const group = s.nh / s.nkv;
  for (const range of flopChunks(tiles * s.nkv * s.batch, 8 * group * perRow, gpu.maxDispatchFlops)) {
    const grid = foldedGrid(gpu, range.end - range.first, o);
    rec.dispatch({
      pipeline: p.dkdv,
      params: attentionParams(s, mask, { tiles, nx: grid[0], chunks: l.chunks }, range),
      bindings: [q, k, v, dOut, stats, mask.table, dk, dv],
      workgroups: grid,
      label: `attention-backward-dkdv-${l.variant}`,
    });
  }
  // The pool hands the buffer out again only after this recorder's commands are submitted.
  stats.release();
}
