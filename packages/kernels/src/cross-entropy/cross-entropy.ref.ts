/**
 * CPU reference for cross-entropy.ts (the specification), in f64. logits [rows, vocab] row-major.
 * Returns per-row losses and d(sum of losses)/d logits.
 */
export function crossEntropyRef(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  o: { rows: number; vocab: number; weight: number; scale?: number },
): { loss: Float64Array; dLogits: Float64Array } {
  const { rows, vocab, weight } = o;
  const scale = o.scale ?? 1;
  const loss = new Float64Array(rows);
  const dLogits = new Float64Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    const label = labels[r];
    if (label < 0) continue;
    const z = (v: number) => scale * logits[r * vocab + v];
    let max = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < vocab; v++) max = Math.max(max, z(v)); // NaN if any is NaN
    let sum = 0;
    for (let v = 0; v < vocab; v++) sum += Math.exp(z(v) - max);
    const lse = max + Math.log(sum);
    loss[r] = label < vocab ? weight * (lse - z(label)) : Number.NaN;
    for (let v = 0; v < vocab; v++) {
      dLogits[r * vocab + v] = weight * scale * (Math.exp(z(v) - lse) - (v === label ? 1 : 0));
    }
  }
  return { loss, dLogits };
}

/** CPU reference for sumRows: the sum of all values, in f64. */
export function sumRowsRef(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s;
}
