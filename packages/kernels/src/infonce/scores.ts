/**
 * c = alpha * op(A) op(B) for the batch-sized products of InfoNCE (f32, row-major c [m, n]).
 * `a`/`b` are read through strides, so a transpose costs nothing: element (i, k) of op(A) is
 * a[i * aStrides[0] + k * aStrides[1]].
 *
 * ```ts
 * // scores [Bq, Bp] = q [Bq, D] . p [Bp, D]^T
 * stridedMatmul(rec, q, p, scores, { m: Bq, n: Bp, k: D, aStrides: [D, 1], bStrides: [1, D] });
 * ```
 */
import { params, type Recorder, type Tensor } from '@llara/gpu';
import code from './scores.wgsl?raw';

export interface StridedMatmulOptions {
  m: number;
  n: number;
  k: number;
  /** Strides (in elements) of op(A)'s row and column indices. */
  aStrides: [number, number];
  /** Strides (in elements) of op(B)'s row (k) and column (n) indices. */
  bStrides: [number, number];
  alpha?: number;
  /** Dispatch label (profiles name each product). */
  label?: string;
}

const TILE = 16;

export function stridedMatmul(rec: Recorder, a: Tensor, b: Tensor, c: Tensor, o: StridedMatmulOptions): void {
  const { m, n, k } = o;
  const last = (rows: number, cols: number, s: [number, number]) => (rows - 1) * s[0] + (cols - 1) * s[1] + 1;
  if (a.size < last(m, k, o.aStrides) || b.size < last(k, n, o.bStrides) || c.size !== m * n) {
    throw new Error(`stridedMatmul: ${a}, ${b} and ${c} do not hold a ${m}x${k} by ${k}x${n} product.`);
  }
  rec.dispatch({
    pipeline: rec.gpu.pipeline({ code, label: 'strided-matmul' }),
    params: params([m, n, k, ...o.aStrides, ...o.bStrides, { f32: o.alpha ?? 1 }]),
    bindings: [a, b, c],
    workgroups: [Math.ceil(n / TILE), Math.ceil(m / TILE)],
    label: o.label ?? 'strided-matmul',
  });
}
