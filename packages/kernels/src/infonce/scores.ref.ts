/** CPU reference for scores.ts (the specification), in f64: c[i, j] = alpha * sum_k A(i, k) B(k, j). */
export function stridedMatmulRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  o: {
    m: number;
    n: number;
    k: number;
    aStrides: [number, number];
    bStrides: [number, number];
    alpha?: number;
  },
): Float64Array {
  const c = new Float64Array(o.m * o.n);
  for (let i = 0; i < o.m; i++) {
    for (let j = 0; j < o.n; j++) {
      let s = 0;
      for (let k = 0; k < o.k; k++) {
        s += a[i * o.aStrides[0] + k * o.aStrides[1]] * b[k * o.bStrides[0] + j * o.bStrides[1]];
      }
      c[i * o.n + j] = (o.alpha ?? 1) * s;
    }
  }
  return c;
}
