/** CPU references for embedding.ts (the specification). table: [V, D] row-major; ids: [T]. */
export function embeddingRef(
  ids: ArrayLike<number>,
  table: ArrayLike<number>,
  V: number,
  D: number,
): Float64Array {
  const out = new Float64Array(ids.length * D);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t];
    if (id < 0 || id >= V) continue;
    for (let d = 0; d < D; d++) out[t * D + d] = table[id * D + d];
  }
  return out;
}

/** The new dRows [R, D] of `dRows[r] += sum_{t: ids[t] == firstRow + r} dOut[t]`, in f64. */
export function embeddingBackwardRef(
  ids: ArrayLike<number>,
  dOut: ArrayLike<number>,
  dRows: ArrayLike<number>,
  firstRow: number,
  D: number,
): Float64Array {
  const out = Float64Array.from(dRows);
  const R = dRows.length / D;
  for (let t = 0; t < ids.length; t++) {
    const r = ids[t] - firstRow;
    if (r < 0 || r >= R) continue;
    for (let d = 0; d < D; d++) out[r * D + d] += dOut[t * D + d];
  }
  return out;
}
