/**
 * CPU reference for mean-pool.ts (the specification), in f64. h [R, dim] row-major; rows
 * [groups * positions] index h's rows.
 */
export function meanPoolRef(
  h: ArrayLike<number>,
  rows: ArrayLike<number>,
  o: { groups: number; positions: number; dim: number },
): Float64Array {
  const { groups, positions: P, dim } = o;
  const out = new Float64Array(groups * dim);
  for (let g = 0; g < groups; g++) {
    for (let p = 0; p < P; p++) {
      const r = rows[g * P + p];
      for (let d = 0; d < dim; d++) out[g * dim + d] += h[r * dim + d] / P;
    }
  }
  return out;
}

/** dh after `meanPoolBackward` starting from `dh0` (the backward accumulates). */
export function meanPoolBackwardRef(
  dOut: ArrayLike<number>,
  rows: ArrayLike<number>,
  dh0: ArrayLike<number>,
  o: { groups: number; positions: number; dim: number },
): Float64Array {
  const { groups, positions: P, dim } = o;
  const dh = Float64Array.from(dh0);
  for (let g = 0; g < groups; g++) {
    for (let p = 0; p < P; p++) {
      const r = rows[g * P + p];
      for (let d = 0; d < dim; d++) dh[r * dim + d] += dOut[g * dim + d] / P;
    }
  }
  return dh;
}
