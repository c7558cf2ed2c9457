/**
 * CPU reference for bow-loss.ts (the specification), in f64. logits [groups * positions, vocab]
 * row-major; targets in CSR form (offsets [groups + 1], ids). Returns per-group losses and
 * d(sum of losses)/d logits.
 */
export function bowLossRef(
  logits: ArrayLike<number>,
  offsets: ArrayLike<number>,
  ids: ArrayLike<number>,
  weights: ArrayLike<number>,
  o: { groups: number; positions: number; vocab: number },
): { loss: Float64Array; dLogits: Float64Array } {
  const { groups, positions: P, vocab: V } = o;
  const loss = new Float64Array(groups);
  const dLogits = new Float64Array(groups * P * V);
  for (let g = 0; g < groups; g++) {
    const targets = Array.from({ length: offsets[g + 1] - offsets[g] }, (_, j) => ids[offsets[g] + j]);
    if (targets.length === 0) continue;
    const at = (p: number, v: number) => logits[(g * P + p) * V + v];
    // max-pool over positions; argmax = the first position holding the max
    const m = new Float64Array(V);
    const arg = new Int32Array(V);
    for (let v = 0; v < V; v++) {
      m[v] = at(0, v);
      for (let p = 1; p < P; p++) {
        if (Number.isNaN(at(p, v))) m[v] = Number.NaN;
        else if (at(p, v) > m[v]) {
          m[v] = at(p, v);
          arg[v] = p;
        }
      }
    }
    let max = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < V; v++) max = Math.max(max, m[v]); // NaN if any is NaN
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(m[v] - max);
    const lse = max + Math.log(sum);
    const w = weights[g];
    const n = targets.length;
    let logpSum = 0;
    for (const t of targets) logpSum += t >= 0 && t < V ? m[t] - lse : Number.NaN;
    loss[g] = (-w / n) * logpSum;
    const dm = new Float64Array(V);
    for (let v = 0; v < V; v++) dm[v] = w * Math.exp(m[v] - lse);
    for (const t of targets) if (t >= 0 && t < V) dm[t] -= w / n;
    for (let v = 0; v < V; v++) dLogits[(g * P + arg[v]) * V + v] = dm[v];
  }
  return { loss, dLogits };
}
