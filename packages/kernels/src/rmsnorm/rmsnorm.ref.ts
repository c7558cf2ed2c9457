/**
 * CPU reference for rmsnorm.ts (the specification), in f64. x, dy: [T, D] row-major; w: [D].
 *   y[t, i] = w[i] * x[t, i] / sqrt(mean_j x[t, j]^2 + eps)
 */
export function rmsnormRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  T: number,
  D: number,
  eps: number,
): Float64Array {
  const y = new Float64Array(T * D);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let i = 0; i < D; i++) ss += x[t * D + i] ** 2;
    const r = 1 / Math.sqrt(ss / D + eps);
    for (let i = 0; i < D; i++) y[t * D + i] = w[i] * (x[t * D + i] * r);
  }
  return y;
}

/** dL/dx given dy = dL/dy, for a frozen w: dx_i = r w_i dy_i - x_i r^3 (sum_j dy_j w_j x_j) / D. */
export function rmsnormBackwardRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  dy: ArrayLike<number>,
  T: number,
  D: number,
  eps: number,
): Float64Array {
  const dx = new Float64Array(T * D);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    let dot = 0;
    for (let i = 0; i < D; i++) {
      const v = x[t * D + i];
      ss += v * v;
      dot += dy[t * D + i] * w[i] * v;
    }
    const r = 1 / Math.sqrt(ss / D + eps);
    for (let i = 0; i < D; i++) {
      dx[t * D + i] = r * w[i] * dy[t * D + i] - (x[t * D + i] * r ** 3 * dot) / D;
    }
  }
  return dx;
}
