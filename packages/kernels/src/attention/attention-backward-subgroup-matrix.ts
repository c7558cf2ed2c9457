/**
 * The tensor-core attention backward (attention-backward-dq-subgroup-matrix.wgsl and
 * attention-backward-dkdv-subgroup-matrix.wgsl, after the dOut scale of attention-backward-scale.wgsl):
 * when it applies and how it is dispatched. `attentionBackward` picks it for precision 'f16' (the
 * default) where the tensor-core forward applies and the backward's tiles fit workgroup memory; pair it
 * with the tensor-core forward, whose lse comes from the same f16 scores. Gradients equal the f32
 * kernels' within f16 rounding of the operands (dOut is scaled by its maximum per kv head first, so
 * small loss gradients do not underflow).
 */
import { flopChunks, type Gpu, params, type Recorder, type Tensor } from '@llara/gpu';
import sidesCode from '../common/subgroup-matrix-sides.wgsl?raw';
import { withConstants } from '../common/with-constants.ts';
import {
  type SubgroupMatrixShape,
  subgroupMatrixDefines,
  subgroupMatrixWorkgroupSize,
} from '../matmul/matmul-subgroup-matrix.ts';
import dkdvCode from './attention-backward-dkdv-subgroup-matrix.wgsl?raw';
import dqCode from './attention-backward-dq-subgroup-matrix.wgsl?raw';
import inputsCode from './attention-backward-inputs.wgsl?raw';
import scaleCode from './attention-backward-scale.wgsl?raw';
import {
  type AttentionOptions,
  type AttentionShape,
  attentionParams,
  foldedGrid,
} from './attention-config.ts';
import { ATTENTION_SM_TILE, attentionSubgroupMatrixShape } from './attention-forward-subgroup-matrix.ts';
import maskCode from './attention-mask.wgsl?raw';
import paramsCode from './attention-params.wgsl?raw';
import type { GpuMask } from './gpu-mask.ts';

/** Workgroup memory of the larger backward kernel (dK/dV): k, v, q, dOut tiles (f16), S, dP (f32), P, dS (f16). */
export function attentionBackwardSubgroupMatrixBytes(headDim: number, sm: number): number {
  const { NSG, BKV } = ATTENTION_SM_TILE;
  const bk = NSG * sm;
  return 2 * 2 * bk * headDim + 2 * 2 * BKV * headDim + 2 * 4 * bk * BKV + 2 * 2 * bk * BKV;
}

/** The matrix shape the tensor-core backward would use for this head dim, or null where it does not apply. */
export function attentionBackwardSubgroupMatrixShape(gpu: Gpu, headDim: number): SubgroupMatrixShape | null {
  const s = attentionSubgroupMatrixShape(gpu, headDim);
  if (!s || attentionBackwardSubgroupMatrixBytes(headDim, s.M) > gpu.limits.maxComputeWorkgroupStorageSize)
    return null;
  return s;
}

const TAIL = `${paramsCode}\n${inputsCode}\n${maskCode}\n${sidesCode}`;
const DQ_SOURCE = `${dqCode}\n${TAIL}`;
const DKDV_SOURCE = `${dkdvCode}\n${TAIL}`;

/** The two kernels' WGSL for a head dim (before the `#if` defines of the matrix shape). */
export function attentionBackwardSubgroupMatrixSources(headDim: number): { dq: string; dkdv: string } {
  return { dq: withConstants(DQ_SOURCE, { HD: headDim }), dkdv: withConstants(DKDV_SOURCE, { HD: headDim }) };
}

/**
 * stats[3 * nH * rows + g] = the largest amax (stats[2 * nH * rows ..]) over kv group g's heads and rows,
 * or 1 when it is 0: the dOut scale of the tensor-core kernels (attention-backward-scale.wgsl).
 */
export function attentionBackwardScale(
  rec: Recorder,
  stats: Tensor,
  s: Pick<AttentionShape, 'rows' | 'nh' | 'nkv'>,
): void {
  if (stats.size < 3 * s.nh * s.rows + s.nkv)
    throw new Error(`attentionBackwardScale: ${stats} is smaller than [3 * ${s.nh} * ${s.rows} + ${s.nkv}].`);
  rec.dispatch({
    pipeline: rec.gpu.pipeline({ code: scaleCode, label: 'attention-backward-scale' }),
    params: params([s.rows, s.nh, s.nkv]),
    bindings: [stats],
    workgroups: [s.nkv],
    label: 'attention-backward-scale',
  });
}

/**
 * Records the scale kernel and the two gradient kernels; `stats` holds [lse | D | amax] from the stats
 * kernel and room for one scale per kv head after them.
 */
export function attentionBackwardSubgroupMatrix(
  rec: Recorder,
  t: { q: Tensor; k: Tensor; v: Tensor; dOut: Tensor; stats: Tensor; dq: Tensor; dk: Tensor; dv: Tensor },
  mask: GpuMask,
  s: AttentionShape,
  o: AttentionOptions,
  shape: SubgroupMatrixShape,
): void {
  const gpu = rec.gpu;
  attentionBackwardScale(rec, t.stats, s);
  const src = attentionBackwardSubgroupMatrixSources(s.hd);
  const defines = subgroupMatrixDefines(shape);
  const constants = { WG: subgroupMatrixWorkgroupSize(gpu, ATTENTION_SM_TILE.NSG) };
  const name = `${shape.M}x${shape.N}x${shape.K}`;
  const tileRows = ATTENTION_SM_TILE.NSG * shape.M;
  const tiles = Math.ceil(s.seq / tileRows);
  // Per workgroup: q.k, dOut.v and the product into dQ (or dK and dV, for every head of the group).
  const perTile = 2 * tileRows * s.seq * s.hd;
  const group = s.nh / s.nkv;
  const kernels = [
    { code: src.dq, count: tiles * s.nh * s.batch, flops: 3 * perTile, out: [t.dq], label: 'dq' },
    {
      code: src.dkdv,
      count: tiles * s.nkv * s.batch,
      flops: 4 * group * perTile,
      out: [t.dk, t.dv],
      label: 'dkdv',
    },
  ];
  for (const kernel of kernels) {
    const label = `attention-backward-${kernel.label}-subgroup-matrix-${name}`;
    const pipeline = gpu.pipeline({ code: kernel.code, defines, constants, label });
    for (const range of flopChunks(kernel.count, kernel.flops, gpu.maxDispatchFlops)) {
      const grid = foldedGrid(gpu, range.end - range.first, o);
      rec.dispatch({
        pipeline,
        params: attentionParams(s, mask, { tiles, nx: grid[0], chunks: 0 }, range),
        bindings: [t.q, t.k, t.v, t.dOut, t.stats, mask.table, ...kernel.out],
        workgroups: grid,
        label,
      });
    }
  }
}
