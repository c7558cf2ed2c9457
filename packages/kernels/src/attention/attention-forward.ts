/**
 * Scaled dot-product attention forward (flash style: online softmax, never a T x T matrix).
 *
 * Shapes (row-major, f32, row = token slot b*T + i of the mask's [batch, seqLen] layout):
 *   q   [B*T, numHeads*headDim]     k, v [B*T, numKvHeads*headDim]   (head h reads kv head h / (nH/nKV))
 *   out [B*T, numHeads*headDim]     lse  [numHeads, B*T]  (logsumexp of the row's scaled visible scores)
 * out[r, h] = sum_j softmax_j(scale * q[r,h] . k[j,kv(h)]) v[j,kv(h)] over the keys the mask lets row r see.
 * A row that sees no key (padding) gets out = 0 and lse = -Infinity; backward gives it zero gradients.
 * Padding slots are never read, so whatever they hold (even NaN) cannot reach a valid row. Key tiles
 * past the causal diagonal, in the padding, or (for block-B rows) inside block A are skipped.
 * Variants (attention-layout.ts): `plain` everywhere, `subgroups` where the device has them and
 * headDim > 8, and with precision 'f16' (the default) on devices with f16 subgroup matrices the
 * tensor-core forward (attention-forward-subgroup-matrix.ts); `describeAttention` names the choice.
 *
 * ```ts
 * const mask = uploadMask(gpu, paddedCausalMask(T, lengths, 'left'));
 * attentionForward(rec, q, k, v, out, lse, mask, { numHeads: 32, numKvHeads: 32, headDim: 128 });
 * ```
 */
import { flopChunks, type Gpu, type Recorder, type Tensor } from '@llara/gpu';
import { withConstants } from '../common/with-constants.ts';
import {
  type AttentionOptions,
  allowsTensorCores,
  attentionParams,
  attentionShape,
  foldedGrid,
  lseSizeCheck,
} from './attention-config.ts';
import code from './attention-forward.wgsl?raw';
import ioCode from './attention-forward-io.wgsl?raw';
import {
  ATTENTION_SM_TILE,
  attentionForwardSubgroupMatrix,
  attentionSubgroupMatrixShape,
} from './attention-forward-subgroup-matrix.ts';
import lanesCode from './attention-lanes.wgsl?raw';
import { type AttentionLayout, attentionLayout, layoutConstants, layoutDefines } from './attention-layout.ts';
import maskCode from './attention-mask.wgsl?raw';
import paramsCode from './attention-params.wgsl?raw';
import { rowAccess } from './attention-rows.ts';
import type { GpuMask } from './gpu-mask.ts';

const ROW_ACCESS = rowAccess({
  load: { load_q4: 'q', load_k4: 'k', load_v4: 'v' },
  store: { store_out4: 'out' },
});
const SOURCE = `${code}\n${paramsCode}\n${ioCode}\n${maskCode}\n${lanesCode}\n${ROW_ACCESS}`;

/** The tensor-core forward's matrix shape when `attentionForward` would use it for these options. */
function tensorCoreShape(gpu: Gpu, o: AttentionOptions) {
  return allowsTensorCores(o) ? attentionSubgroupMatrixShape(gpu, o.headDim) : null;
}

/** One line naming the variant and tiling `attentionForward` uses on this device, for logs and benchmarks. */
export function describeAttention(gpu: Gpu, o: AttentionOptions): string {
  const tc = tensorCoreShape(gpu, o);
  if (tc)
    return `attention f16 subgroup-matrix ${tc.M}x${tc.N}x${tc.K}: ${ATTENTION_SM_TILE.NSG * tc.M} rows x ${ATTENTION_SM_TILE.BKV} keys per tile, two passes`;
  const l = attentionLayout(gpu, o);
  const split = l.lanes === 1 ? 'one query row per invocation' : `${l.lanes} subgroup lanes per query row`;
  return `attention f32 ${l.variant}: ${split}, ${l.rows} rows x ${l.keyTile} keys per tile`;
}

function forwardPipeline(gpu: Gpu, l: AttentionLayout, hd: number): GPUComputePipeline {
  return gpu.pipeline({
    code: withConstants(SOURCE, { ...layoutConstants(l, hd), KT: l.keyTile }),
    defines: layoutDefines(l),
    label: `attention-forward-${l.variant}`,
  });
}

/**
 * q: f32 [B*T, numHeads*headDim]; k, v: f32 [B*T, numKvHeads*headDim]; out: f32 [B*T, numHeads*headDim];
 * lse: f32 [numHeads, B*T] (-Infinity for rows that see no key, whose out is 0).
 */
export function attentionForward(
  rec: Recorder,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  lse: Tensor,
  mask: GpuMask,
  o: AttentionOptions,
): void {
  const s = attentionShape(mask, o, [
    [q, 'q', 'q'],
    [k, 'kv', 'k'],
    [v, 'kv', 'v'],
    [out, 'q', 'out'],
  ]);
  lseSizeCheck(lse, s);
  const gpu = rec.gpu;
  const tensorCores = tensorCoreShape(gpu, o);
  if (tensorCores) {
    attentionForwardSubgroupMatrix(rec, { q, k, v, out, lse }, mask, s, o, tensorCores);
    return;
  }
  const l = attentionLayout(gpu, o);
  const tiles = Math.ceil(s.seq / l.rows);
  // Per workgroup: ROWS query rows against up to `seq` keys, q.k and p.v (2 flops each per element).
  const flops = 4 * l.rows * s.seq * s.hd;
  for (const range of flopChunks(tiles * s.nh * s.batch, flops, gpu.maxDispatchFlops)) {
    const workgroups = foldedGrid(gpu, range.end - range.first, o);
    rec.dispatch({
      pipeline: forwardPipeline(gpu, l, s.hd),
      params: attentionParams(s, mask, { tiles, nx: workgroups[0], chunks: l.chunks }, range),
      bindings: [q, k, v, mask.table, out, lse],
      workgroups,
      label: `attention-forward-${l.variant}`,
    });
  }
}
