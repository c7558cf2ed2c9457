/**
 * Central finite differences in f64, for checking backward kernels (and their references) against
 * the reference forward: for a scalar loss L(x), dL/dx_i ~ (L(x + h e_i) - L(x - h e_i)) / 2h, whose
 * error is O(h^2 * L''') plus rounding O(eps64 * |L| / h); h = 1e-5 keeps both near 1e-9 for the
 * smooth, O(1)-scaled losses the tests build.
 *
 * ```ts
 * const g = centralGradient((v) => dot(dy, rmsnormRef(v, w, T, D, eps)), x);
 * ```
 */
export function centralGradient(
  loss: (x: Float64Array) => number,
  x: ArrayLike<number>,
  h = 1e-5,
): Float64Array {
  const v = Float64Array.from(x);
  const g = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const keep = v[i];
    v[i] = keep + h;
    const up = loss(v);
    v[i] = keep - h;
    const down = loss(v);
    v[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** sum_i a_i * b_i in f64: turns a vector-valued forward into the scalar loss `centralGradient` needs. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
