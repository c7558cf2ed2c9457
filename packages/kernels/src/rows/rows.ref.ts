/** CPU references for rows.ts (the specification). x, dx: [T, D]; rows: [R]; out, dOut: [R, D]. */
export function gatherRowsRef(
  x: ArrayLike<number>,
  rows: ArrayLike<number>,
  T: number,
  D: number,
): Float64Array {
  const out = new Float64Array(rows.length * D);
  for (let r = 0; r < rows.length; r++) {
    if (rows[r] < 0 || rows[r] >= T) continue;
    for (let d = 0; d < D; d++) out[r * D + d] = x[rows[r] * D + d];
  }
  return out;
}

/** The new dx of `dx[rows[r]] += dOut[r]`, in f64. */
export function scatterAddRowsRef(
  dOut: ArrayLike<number>,
  rows: ArrayLike<number>,
  dx: ArrayLike<number>,
  D: number,
): Float64Array {
  const out = Float64Array.from(dx);
  const T = dx.length / D;
  for (let r = 0; r < rows.length; r++) {
    if (rows[r] < 0 || rows[r] >= T) continue;
    for (let d = 0; d < D; d++) out[rows[r] * D + d] += dOut[r * D + d];
  }
  return out;
}
