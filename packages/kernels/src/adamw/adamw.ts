/**
 * AdamW optimizer step on the GPU, exactly as `torch.optim.AdamW` (decoupled weight decay).
 *
 * Shapes: `param`, `grad`, `m` (first moment), `v` (second moment): f32, the same number of elements,
 * contiguous (any shape; the kernel sees them as flat [n]). `param`, `m`, `v` are updated in place;
 * `m` and `v` start as zeros. Optional `scaleBuf`: f32 [>= scaleIndex + 1], e.g. `clipFactor`'s output
 * (index 1 holds the clip factor).
 *
 * ```ts
 * const rec = gpu.recorder();
 * adamw(rec, w, dw, m, v, { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: 1 });
 * rec.submit();
 * ```
 */
import { grid1d, params, type Recorder, type Tensor } from '@llara/gpu';
import code from './adamw.wgsl?raw';

const WG = 256;

export interface AdamwOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count (the step being taken). */
  step: number;
  /** Multiplies the gradient before anything else (clipping, loss scaling, accumulation averaging). Default 1. */
  gradScale?: number;
  /** When given, the gradient scale is read from `scaleBuf[scaleIndex]` on the GPU instead of `gradScale`. */
  scaleBuf?: Tensor;
  /** Index into `scaleBuf`; default 1 (where `clipFactor` writes the clip factor). */
  scaleIndex?: number;
}

/**
 * One AdamW step: `p -= lr*wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps)` with `g = grad * gradScale`.
 */
export function adamw(
  rec: Recorder,
  param: Tensor,
  grad: Tensor,
  m: Tensor,
  v: Tensor,
  o: AdamwOptions,
): void {
  const n = param.size;
  for (const [t, name] of [
    [param, 'param'],
    [grad, 'grad'],
    [m, 'm'],
    [v, 'v'],
  ] as const) {
    if (t.dtype !== 'f32') throw new Error(`adamw: ${name} ${t} must be f32.`);
    if (t.size !== n) throw new Error(`adamw: ${name} ${t} has ${t.size} elements but param has ${n}.`);
  }
  if (!Number.isInteger(o.step) || o.step < 1) {
    throw new Error(`adamw: step must be a positive integer (1 for the first step), got ${o.step}.`);
  }
  const scaleIndex = o.scaleIndex ?? 1;
  if (o.scaleBuf) {
    if (o.scaleBuf.dtype !== 'f32' || scaleIndex >= o.scaleBuf.size || scaleIndex < 0) {
      throw new Error(`adamw: scaleBuf ${o.scaleBuf} must be f32 with an element at index ${scaleIndex}.`);
    }
  }
  // Scalars are formed in f64 like PyTorch's Python floats, then rounded once to f32.
  const bc1 = 1 - o.beta1 ** o.step;
  const bc2 = 1 - o.beta2 ** o.step;
  const [nx, ny] = grid1d(n, WG, rec.gpu.limits.maxComputeWorkgroupsPerDimension);
  const pipeline = rec.gpu.pipeline({
    code,
    label: 'adamw',
    defines: { SCALE_BUF: o.scaleBuf !== undefined },
    constants: { WG },
  });
  rec.dispatch({
    pipeline,
    params: params([
      n,
      nx,
      scaleIndex,
      0,
      { f32: 1 - o.lr * o.weightDecay },
      { f32: o.beta1 },
      { f32: 1 - o.beta1 },
      { f32: o.beta2 },
      { f32: 1 - o.beta2 },
      { f32: -(o.lr / bc1) },
      { f32: Math.sqrt(bc2) },
      { f32: o.eps },
      { f32: o.gradScale ?? 1 },
    ]),
    bindings: o.scaleBuf ? [param, grad, m, v, o.scaleBuf] : [param, grad, m, v],
    workgroups: [nx, ny],
    label: 'adamw',
  });
}
