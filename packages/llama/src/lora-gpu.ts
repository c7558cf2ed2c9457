/**
 * LoRA adapters living on the GPU, with their gradients: for each adapted projection W [out, in],
 * y = x W^T + scale * (dropout(x) A^T) B^T with A [r, in], B [out, r] (PEFT's layout; host-side init
 * and file I/O are in peft.ts).
 */
import type { Gpu, Tensor } from '@llara/gpu';
import {
  LORA_TARGETS,
  type LoraConfig,
  type LoraMatrices,
  type LoraTarget,
  type LoraWeights,
  loraDims,
  loraScale,
} from './peft.ts';
import type { LlamaShape } from './shape.ts';

export interface LoraPair {
  A: Tensor;
  B: Tensor;
  gA: Tensor;
  gB: Tensor;
  inDim: number;
  outDim: number;
}

export class LoraGpu {
  readonly scale: number;
  readonly layers: Partial<Record<LoraTarget, LoraPair>>[];

  private constructor(
    readonly gpu: Gpu,
    readonly config: LoraConfig,
    layers: Partial<Record<LoraTarget, LoraPair>>[],
  ) {
    this.scale = loraScale(config);
    this.layers = layers;
  }

  /** Adapter dropout probability (applied to the LoRA branch's input while training). */
  get dropout(): number {
    return this.config.dropout;
  }

  /** Uploads host adapters (fresh from `initLoraWeights`, or read from a PEFT folder). */
  static upload(gpu: Gpu, shape: LlamaShape, weights: LoraWeights): LoraGpu {
    if (weights.layers.length !== shape.numLayers) {
      throw new Error(
        `The adapter has ${weights.layers.length} layers but the model has ${shape.numLayers}.`,
      );
    }
    const layers = weights.layers.map((entry, l) => {
      const out: Partial<Record<LoraTarget, LoraPair>> = {};
      for (const t of weights.config.targets) {
        const m = entry[t];
        if (!m) throw new Error(`The adapter has no ${t} matrices for layer ${l}.`);
        const { inDim, outDim } = loraDims(shape, t);
        const r = weights.config.r;
        if (
          m.inDim !== inDim ||
          m.outDim !== outDim ||
          m.A.length !== r * inDim ||
          m.B.length !== outDim * r
        ) {
          throw new Error(
            `The adapter's layer ${l} ${t} is [${outDim}x${r}]·[${r}x${inDim}] in the model but ${m.outDim}x${m.inDim} in the adapter.`,
          );
        }
        const opts = (n: string) => ({ label: `lora.${l}.${t}.${n}`, pooled: false });
        out[t] = {
          A: gpu.tensor('f32', [r, inDim], m.A, opts('A')),
          B: gpu.tensor('f32', [outDim, r], m.B, opts('B')),
          gA: gpu.zeros('f32', [r, inDim], opts('gA')),
          gB: gpu.zeros('f32', [outDim, r], opts('gB')),
          inDim,
          outDim,
        };
      }
      return out;
    });
    return new LoraGpu(gpu, weights.config, layers);
  }

  /** Every trainable tensor with its gradient, in a stable order (layer, target, A then B). */
  parameters(): { name: string; param: Tensor; grad: Tensor }[] {
    const out: { name: string; param: Tensor; grad: Tensor }[] = [];
    this.layers.forEach((entry, l) => {
      for (const t of LORA_TARGETS) {
        const p = entry[t];
        if (!p) continue;
        out.push({ name: `${l}.${t}.A`, param: p.A, grad: p.gA });
        out.push({ name: `${l}.${t}.B`, param: p.B, grad: p.gB });
      }
    });
    return out;
  }

  /** Number of trainable values. */
  get size(): number {
    return this.parameters().reduce((s, p) => s + p.param.size, 0);
  }

  /** Reads the adapters back in the PEFT structure (for saving or merging). */
  async toWeights(): Promise<LoraWeights> {
    const layers: Partial<Record<LoraTarget, LoraMatrices>>[] = [];
    for (const entry of this.layers) {
      const host: Partial<Record<LoraTarget, LoraMatrices>> = {};
      for (const t of LORA_TARGETS) {
        const p = entry[t];
        if (!p) continue;
        host[t] = {
          A: (await this.gpu.read(p.A)) as Float32Array,
          B: (await this.gpu.read(p.B)) as Float32Array,
          inDim: p.inDim,
          outDim: p.outDim,
        };
      }
      layers.push(host);
    }
    return { config: this.config, layers };
  }

  destroy(): void {
    for (const entry of this.layers)
      for (const p of Object.values(entry)) {
        if (!p) continue;
        p.A.release();
        p.B.release();
        p.gA.release();
        p.gB.release();
      }
  }
}
