/**
 * The specification of `matmul`, in plain loops with float64 accumulation:
 *
 *   C[M,N] = alpha * op(A) @ op(B) + beta * C
 *
 * Layouts (row-major, the last dimension contiguous):
 *   A: transA false -> [M, K] (op(A) = A);  transA true -> [K, M] (op(A) = A^T).
 *   B: transB true  -> [N, K] (op(B) = B^T, HF weights [out, in]);  transB false -> [K, N].
 *   C: [M, N].
 * `b` holds B's values as numbers (16-bit weights already decoded), so the reference of an f16/bf16
 * matmul is this function applied to the rounded values.
 */
import type { MatmulOptions } from './matmul-options.ts';

export function matmulRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c: ArrayLike<number> | null,
  o: MatmulOptions,
): Float64Array {
  const { M, N, K } = o;
  const alpha = o.alpha ?? 1;
  const beta = o.beta ?? 0;
  if (beta !== 0 && !c) throw new Error('matmulRef: beta 1 needs the previous C');
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const av = o.transA ? a[k * M + m] : a[m * K + k];
        const bv = o.transB ? b[n * K + k] : b[k * N + n];
        s += av * bv;
      }
      out[m * N + n] = alpha * s + (beta !== 0 ? beta * c![m * N + n] : 0);
    }
  }
  return out;
}
