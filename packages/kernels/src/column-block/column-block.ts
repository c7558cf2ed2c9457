/**
 * Copy of a block of columns between row-major f32 matrices: how the LM head of a vocabulary too large
 * for one storage binding (split by rows into parts) writes each part's logits into place, and reads
 * each part's slice of the logit gradient.
 *
 * Layouts: src f32 [rows, srcStride], dst f32 [rows, dstStride] (at least `rows` rows each).
 *
 * ```ts
 * // logits[:, 32000..32015] = partLogits[:, 0..15]
 * copyColumns(rec, partLogits, logits, { rows: R, cols: 16, srcStride: 16, dstStride: 32016, dstCol0: 32000 });
 * ```
 */
import { grid1d, params, type Recorder, type Tensor } from '@llara/gpu';
import { ELEMENT_WG } from '../elementwise/elementwise.ts';
import { expectNoAlias, expectTensor } from '../elementwise/tensor-checks.ts';
import code from './column-block.wgsl?raw';

export interface ColumnBlock {
  rows: number;
  cols: number;
  srcStride: number;
  /** First source column (default 0). */
  srcCol0?: number;
  dstStride: number;
  /** First destination column (default 0). */
  dstCol0?: number;
  /** Add to dst instead of overwriting it. */
  accumulate?: boolean;
}

/** dst[r, dstCol0 + c] = (or +=) src[r, srcCol0 + c] for r < rows, c < cols. */
export function copyColumns(rec: Recorder, src: Tensor, dst: Tensor, b: ColumnBlock): void {
  const srcCol0 = b.srcCol0 ?? 0;
  const dstCol0 = b.dstCol0 ?? 0;
  for (const [k, v] of Object.entries({ ...b, srcCol0, dstCol0 })) {
    if (typeof v === 'number' && (!Number.isInteger(v) || v < 0))
      throw new Error(`copyColumns: ${k} must be a non-negative integer, got ${v}.`);
  }
  if (srcCol0 + b.cols > b.srcStride || dstCol0 + b.cols > b.dstStride)
    throw new Error(
      `copyColumns: columns ${srcCol0}..${srcCol0 + b.cols} of ${b.srcStride} -> ${dstCol0}..${dstCol0 + b.cols} of ${b.dstStride} do not fit the rows.`,
    );
  expectTensor('copyColumns', 'src', src, 'f32');
  expectTensor('copyColumns', 'dst', dst, 'f32');
  expectNoAlias('copyColumns', ['dst', dst], ['src', src]);
  if (src.size < b.rows * b.srcStride || dst.size < b.rows * b.dstStride)
    throw new Error(`copyColumns: ${src} or ${dst} holds fewer than ${b.rows} rows.`);
  const n = b.rows * b.cols;
  if (n === 0) return;
  const [nx, ny] = grid1d(n, ELEMENT_WG);
  const label = b.accumulate ? 'add-columns' : 'copy-columns';
  rec.dispatch({
    pipeline: rec.gpu.pipeline({
      code,
      label,
      defines: { ACCUMULATE: !!b.accumulate },
      constants: { WG: ELEMENT_WG },
    }),
    params: params([n, b.cols, b.srcStride, srcCol0, b.dstStride, dstCol0, nx]),
    bindings: [src, dst],
    workgroups: [nx, ny],
    label,
  });
}
