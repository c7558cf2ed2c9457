/**
 * AdamW in f64, the specification of `adamw` (torch.optim.AdamW, single-tensor path):
 * p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps),
 * with g = grad * gradScale. Updates `param`, `m`, `v` in place.
 */
export interface AdamwRefOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
  gradScale?: number;
}

export function adamwRef(
  param: Float64Array | Float32Array,
  grad: ArrayLike<number>,
  m: Float64Array | Float32Array,
  v: Float64Array | Float32Array,
  o: AdamwRefOptions,
): void {
  const scale = o.gradScale ?? 1;
  const bc1 = 1 - o.beta1 ** o.step;
  const bc2 = 1 - o.beta2 ** o.step;
  for (let i = 0; i < param.length; i++) {
    const g = grad[i] * scale;
    m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
    v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
    const mhat = m[i] / bc1;
    const vhat = v[i] / bc2;
    param[i] = param[i] * (1 - o.lr * o.weightDecay) - (o.lr * mhat) / (Math.sqrt(vhat) + o.eps);
  }
}
