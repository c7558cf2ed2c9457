/** CPU reference for l2-normalize.ts (the specification), in f64. x, y, dy [rows, dim] row-major. */
const EPS = 1e-12;

function norms(x: ArrayLike<number>, rows: number, dim: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < dim; i++) s += x[r * dim + i] ** 2;
    out[r] = Math.sqrt(s);
  }
  return out;
}

/** y = x / max(||x||, 1e-12), row by row. */
export function l2NormalizeRef(x: ArrayLike<number>, o: { rows: number; dim: number }): Float64Array {
  const { rows, dim } = o;
  const n = norms(x, rows, dim);
  const y = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < dim; i++) y[r * dim + i] = x[r * dim + i] / Math.max(n[r], EPS);
  }
  return y;
}

/** d(<dy, y(x)>)/dx: (dy - y <dy, y>) / ||x|| above the clamp, dy / 1e-12 below it. */
export function l2NormalizeBackwardRef(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  o: { rows: number; dim: number },
): Float64Array {
  const { rows, dim } = o;
  const n = norms(x, rows, dim);
  const y = l2NormalizeRef(x, o);
  const dx = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    for (let i = 0; i < dim; i++) dot += dy[r * dim + i] * y[r * dim + i];
    for (let i = 0; i < dim; i++) {
      const k = r * dim + i;
      dx[k] = n[r] > EPS ? (dy[k] - y[k] * dot) / n[r] : dy[k] / EPS;
    }
  }
  return dx;
}
