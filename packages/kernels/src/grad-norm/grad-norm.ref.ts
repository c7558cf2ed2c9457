/** Sum of squares in f64: the specification of `sumSquaresInto`. */
export function sumSquaresRef(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

/** [norm, clip factor] from a total squared norm, as `torch.nn.utils.clip_grad_norm_` (maxNorm <= 0: factor 1). */
export function clipFactorRef(totalSquares: number, maxNorm: number): [number, number] {
  const norm = Math.sqrt(totalSquares);
  if (!(maxNorm > 0)) return [norm, 1];
  const c = maxNorm / (norm + 1e-6);
  return [norm, Math.min(1, c)]; // NaN stays NaN, as in PyTorch
}
