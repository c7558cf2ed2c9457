/**
 * Top-k per row in plain TS, the specification of `topk`: scores [rows, cols] row-major; each row's
 * columns sorted by score descending, equal scores by lower column first, NaN after everything else
 * (NaNs by column); -0 equals +0. The first k go to index/score [rows, k]; when k > cols the rest is
 * index -1, score -Infinity.
 */
export interface TopkShape {
  rows: number;
  cols: number;
  k: number;
}

export function topkRef(scores: ArrayLike<number>, o: TopkShape): { index: Int32Array; score: Float32Array } {
  const { rows, cols, k } = o;
  const index = new Int32Array(rows * k).fill(-1);
  const score = new Float32Array(rows * k).fill(Number.NEGATIVE_INFINITY);
  const order = new Array<number>(cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) order[c] = c;
    order.sort((a, b) => {
      const sa = scores[base + a];
      const sb = scores[base + b];
      const na = Number.isNaN(sa);
      const nb = Number.isNaN(sb);
      if (na !== nb) return na ? 1 : -1;
      if (!na && sa !== sb) return sa > sb ? -1 : 1;
      return a - b;
    });
    for (let j = 0; j < Math.min(k, cols); j++) {
      index[r * k + j] = order[j];
      score[r * k + j] = scores[base + order[j]];
    }
  }
  return { index, score };
}
