/**
 * AdamW over the LoRA parameters on the GPU, with global gradient-norm clipping computed on the device
 * (no readback in the hot path except the norm for logging).
 */
import type { Gpu, Tensor } from '@llara/gpu';
import { adamw, clipFactor, scale, sumSquaresInto } from '@llara/kernels';

export interface AdamWConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Global gradient-norm clip; 0 turns clipping off. */
  maxGradNorm: number;
}

export const ADAMW_DEFAULTS: AdamWConfig = {
  lr: 1e-4,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
  maxGradNorm: 1,
};

export interface Param {
  name: string;
  param: Tensor;
  grad: Tensor;
}

export class AdamW {
  /** Number of updates applied so far (the next update uses step + 1 for bias correction). */
  step = 0;
  private readonly m: Tensor[];
  private readonly v: Tensor[];
  private readonly acc: Tensor;
  private readonly norm: Tensor;

  constructor(
    readonly gpu: Gpu,
    readonly params: Param[],
    readonly config: AdamWConfig,
  ) {
    this.m = params.map((p) => gpu.zeros('f32', p.param.shape, { label: `adam.m.${p.name}`, pooled: false }));
    this.v = params.map((p) => gpu.zeros('f32', p.param.shape, { label: `adam.v.${p.name}`, pooled: false }));
    this.acc = gpu.zeros('f32', [1], { label: 'adam.normsq', pooled: false });
    this.norm = gpu.zeros('f32', [2], { label: 'adam.norm', pooled: false });
  }

  /**
   * Applies one update with learning rate `lr` from the accumulated gradients (scaled by `gradScale`,
   * e.g. 1 / accumulation steps), then zeroes them. Returns the gradient norm before clipping (NaN or
   * Inf when the step is broken: the caller stops before saving).
   */
  async update(lr: number, gradScale = 1): Promise<number> {
    const rec = this.gpu.recorder();
    // Averaging over accumulated micro-batches happens first, so the norm (and the clip) is of the
    // gradient that is applied, as with torch's clip_grad_norm_ after the backward passes.
    if (gradScale !== 1) for (const p of this.params) scale(rec, p.grad, gradScale);
    rec.clear(this.acc);
    for (const p of this.params) sumSquaresInto(rec, p.grad, this.acc);
    clipFactor(rec, this.acc, this.norm, this.config.maxGradNorm);
    this.step++;
    this.params.forEach((p, i) => {
      adamw(rec, p.param, p.grad, this.m[i], this.v[i], {
        lr,
        beta1: this.config.beta1,
        beta2: this.config.beta2,
        eps: this.config.eps,
        weightDecay: this.config.weightDecay,
        step: this.step,
        scaleBuf: this.norm,
        scaleIndex: 1,
      });
      rec.clear(p.grad);
    });
    rec.submit();
    const n = (await this.gpu.read(this.norm)) as Float32Array;
    return n[0];
  }

  /** Moments for a checkpoint, in parameter order. */
  async state(): Promise<{ step: number; m: Float32Array[]; v: Float32Array[] }> {
    const m: Float32Array[] = [];
    const v: Float32Array[] = [];
    for (let i = 0; i < this.params.length; i++) {
      m.push((await this.gpu.read(this.m[i])) as Float32Array);
      v.push((await this.gpu.read(this.v[i])) as Float32Array);
    }
    return { step: this.step, m, v };
  }

  load(state: { step: number; m: Float32Array[]; v: Float32Array[] }): void {
    if (state.m.length !== this.params.length || state.v.length !== this.params.length) {
      throw new Error(
        `Optimizer state has ${state.m.length} tensors but the adapter has ${this.params.length}`,
      );
    }
    this.step = state.step;
    this.params.forEach((p, i) => {
      if (state.m[i].length !== p.param.size || state.v[i].length !== p.param.size) {
        throw new Error(`Optimizer state for ${p.name} has the wrong size`);
      }
      this.gpu.write(this.m[i], state.m[i]);
      this.gpu.write(this.v[i], state.v[i]);
    });
  }

  destroy(): void {
    for (const t of [...this.m, ...this.v, this.acc, this.norm]) t.release();
  }
}
