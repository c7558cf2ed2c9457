import { crossEntropyRef } from '../cross-entropy/cross-entropy.ref.ts';

/**
 * CPU reference for infonce.ts (the specification), in f64. q [queries, dim], p [passages, dim]
 * row-major; labels [queries].
 */
export function infoNceRef(
  q: ArrayLike<number>,
  p: ArrayLike<number>,
  labels: ArrayLike<number>,
  o: { queries: number; passages: number; dim: number; tau: number },
): { loss: Float64Array; dq: Float64Array; dp: Float64Array } {
  const { queries: B, passages: N, dim: D, tau } = o;
  const scores = new Float64Array(B * N);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += q[i * D + d] * p[j * D + d];
      scores[i * N + j] = s;
    }
  }
  const { loss, dLogits: dS } = crossEntropyRef(scores, labels, {
    rows: B,
    vocab: N,
    weight: 1 / B,
    scale: 1 / tau,
  });
  const dq = new Float64Array(B * D);
  const dp = new Float64Array(N * D);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < N; j++) {
      for (let d = 0; d < D; d++) {
        dq[i * D + d] += dS[i * N + j] * p[j * D + d];
        dp[j * D + d] += dS[i * N + j] * q[i * D + d];
      }
    }
  }
  return { loss, dq, dp };
}
