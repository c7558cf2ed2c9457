import type { ColumnBlock } from './column-block.ts';

/** CPU reference of `copyColumns`: the new dst, in f64. */
export function copyColumnsRef(src: ArrayLike<number>, dst: ArrayLike<number>, b: ColumnBlock): Float64Array {
  const out = Float64Array.from(dst);
  for (let r = 0; r < b.rows; r++)
    for (let c = 0; c < b.cols; c++) {
      const o = r * b.dstStride + (b.dstCol0 ?? 0) + c;
      const v = src[r * b.srcStride + (b.srcCol0 ?? 0) + c];
      out[o] = b.accumulate ? out[o] + v : v;
    }
  return out;
}
