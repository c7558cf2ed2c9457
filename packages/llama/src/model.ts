/**
 * The LLaMA graph on WebGPU: token ids in, final (post-norm) hidden states out, gradients back to the
 * LoRA adapters (and to trainable embedding rows).
 *
 * ```ts
 * const model = new LlamaModel(gpu, shape, weights);
 * const batch = model.upload({ ids, positions, mask });
 * const hidden = model.forward(batch);            // f32 [B*T, hidden]
 * console.log(await gpu.read(hidden));
 * ```
 *
 * Training: `forwardTrain` keeps each layer's input (activation checkpointing, the default) or every
 * activation; `backward(state, dHidden)` recomputes each layer as needed and accumulates LoRA gradients.
 * Work is submitted once per layer so a 7B layer's temporaries are all the memory a step needs beyond
 * the checkpoints.
 */
import type { Gpu, Recorder, Tensor } from '@llara/gpu';
import {
  copyColumns,
  embedding,
  embeddingBackward,
  type GpuMask,
  type MaskDescription,
  matmul,
  rmsnorm,
  rmsnormBackward,
  uploadMask,
} from '@llara/kernels';
import { type LayerActs, type LayerInputs, layerBackward, layerForward, releaseActs } from './layer.ts';
import type { LoraGpu } from './lora-gpu.ts';
import type { LlamaShape } from './shape.ts';
import { type LlamaWeights, releaseWeights } from './weights-gpu.ts';

/** A batch as the kernels see it: B sequences of T slots, flattened to B*T tokens. */
export interface Batch {
  ids: Int32Array;
  positions: Int32Array;
  mask: MaskDescription;
}

/** A batch uploaded to the device. */
export interface DeviceBatch {
  tokens: number;
  ids: Tensor;
  positions: Tensor;
  mask: GpuMask;
  release(): void;
}

export interface TrainState {
  batch: DeviceBatch;
  /** Residual stream entering each layer (checkpoints); [L] is the last layer's output. */
  inputs: Tensor[];
  /** Saved activations per layer when checkpointing is off. */
  acts: (LayerActs | null)[];
  hidden: Tensor;
  seed: number;
}

export interface TrainableRows {
  /** First embedding row that is trained (e.g. the first added special token). */
  firstRow: number;
  /** f32 [rows, hidden] gradient of those rows (accumulated). */
  grad: Tensor;
}

export class LlamaModel {
  lora: LoraGpu | null = null;
  /** Per-layer activation checkpointing during training (recompute in backward). */
  checkpointing = true;
  /**
   * Attention precision while training (forward, recompute and backward alike). 'f16' runs the
   * tensor-core flash attention where the device has f16 subgroup matrices (elsewhere the f32 kernels
   * run either way). 'f32' stays the default until those backward kernels have passed the device checks
   * on real hardware (`device-main checks`, "training f16 attention vs f32"). Inference always asks for
   * 'f16' attention: its forward has no backward to agree with.
   */
  trainingAttention: 'f16' | 'f32' = 'f32';
  /**
   * Precision of the projections' input gradients dy W in training. 'f16' runs them on tensor cores
   * where the weights are f16 and the device has subgroup matrices, dy rescaled by a power of two so it
   * does not underflow (`matmulScaledA`); elsewhere the f32 kernels run either way. 'f32' stays the
   * default until the device checks ("training f16 input gradients vs f32") have passed on hardware.
   */
  trainingInputGradients: 'f16' | 'f32' = 'f32';
  trainableRows: TrainableRows | null = null;

  constructor(
    readonly gpu: Gpu,
    readonly shape: LlamaShape,
    readonly weights: LlamaWeights,
  ) {}

  upload(b: Batch): DeviceBatch {
    const tokens = b.ids.length;
    if (b.positions.length !== tokens || b.mask.batch * b.mask.seqLen !== tokens) {
      throw new Error(
        `Batch shapes disagree: ${tokens} ids, ${b.positions.length} positions, mask ${b.mask.batch}x${b.mask.seqLen}`,
      );
    }
    const vocab = this.shape.vocabSize;
    for (const id of b.ids) {
      if (id < 0 || id >= vocab)
        throw new Error(`Token id ${id} is outside the model's vocabulary (0..${vocab - 1})`);
    }
    const ids = this.gpu.tensor('i32', [tokens], b.ids, { label: 'ids' });
    const positions = this.gpu.tensor('i32', [tokens], b.positions, { label: 'positions' });
    const mask = uploadMask(this.gpu, b.mask);
    return {
      tokens,
      ids,
      positions,
      mask,
      release: () => {
        ids.release();
        positions.release();
        mask.table.release();
      },
    };
  }

  /**
   * Final hidden states f32 [tokens, hidden] without keeping activations (caller releases). Inference
   * applies no dropout; `dropoutSeed` applies the LoRA dropout masks `forwardTrain(batch, seed)` would
   * (GradCache's graph-free first pass must see the same network as its second).
   */
  forward(batch: DeviceBatch, opts: { dropoutSeed?: number } = {}): Tensor {
    const inp: LayerInputs = {
      tokens: batch.tokens,
      positions: batch.positions,
      mask: batch.mask,
      seed: opts.dropoutSeed ?? 0,
      train: opts.dropoutSeed !== undefined,
      // GradCache's first pass must compute what the training pass will.
      attention: opts.dropoutSeed !== undefined ? this.trainingAttention : 'f16',
      inputGradients: this.trainingInputGradients,
    };
    let x = this.embed(batch);
    this.weights.layers.forEach((w, l) => {
      const rec = this.gpu.recorder();
      const { out } = layerForward(rec, this.shape, w, l, this.lora, x, inp, false);
      x.release();
      rec.submit();
      x = out;
    });
    const rec = this.gpu.recorder();
    const hidden = this.finalNorm(rec, x);
    x.release();
    rec.submit();
    return hidden;
  }

  /** Training forward: keeps what backward needs. `seed` drives LoRA dropout for this step. */
  forwardTrain(batch: DeviceBatch, seed = 0): TrainState {
    const inp: LayerInputs = {
      tokens: batch.tokens,
      positions: batch.positions,
      mask: batch.mask,
      seed,
      train: true,
      attention: this.trainingAttention,
      inputGradients: this.trainingInputGradients,
    };
    const inputs: Tensor[] = [this.embed(batch)];
    const acts: (LayerActs | null)[] = [];
    this.weights.layers.forEach((w, l) => {
      const rec = this.gpu.recorder();
      const r = layerForward(rec, this.shape, w, l, this.lora, inputs[l], inp, !this.checkpointing);
      rec.submit();
      inputs.push(r.out);
      acts.push(r.acts);
    });
    const rec = this.gpu.recorder();
    const hidden = this.finalNorm(rec, inputs[inputs.length - 1]);
    rec.submit();
    return { batch, inputs, acts, hidden, seed };
  }

  /**
   * Back-propagates d(loss)/d(hidden) [tokens, hidden] through the model, accumulating LoRA gradients
   * (and trainable embedding rows). Releases the state's activations.
   */
  backward(state: TrainState, dHidden: Tensor): void {
    const { batch } = state;
    const inp: LayerInputs = {
      tokens: batch.tokens,
      positions: batch.positions,
      mask: batch.mask,
      seed: state.seed,
      train: true,
      attention: this.trainingAttention,
      inputGradients: this.trainingInputGradients,
    };
    const L = this.weights.layers.length;
    const H = this.shape.hiddenSize;
    const dRes = this.gpu.tensor('f32', [batch.tokens, H], undefined, { label: 'd.residual' });
    let rec = this.gpu.recorder();
    rmsnormBackward(rec, state.inputs[L], this.weights.norm, dHidden, dRes, this.shape.rmsNormEps, false);
    rec.submit();
    state.inputs[L].release();
    for (let l = L - 1; l >= 0; l--) {
      rec = this.gpu.recorder();
      const w = this.weights.layers[l];
      let acts = state.acts[l];
      if (!acts) {
        const again = layerForward(rec, this.shape, w, l, this.lora, state.inputs[l], inp, true);
        again.out.release();
        acts = again.acts!;
      }
      layerBackward(rec, this.shape, w, l, this.lora, acts, dRes, inp);
      releaseActs(acts, false);
      rec.submit();
    }
    if (this.trainableRows) {
      rec = this.gpu.recorder();
      embeddingBackward(rec, batch.ids, dRes, this.trainableRows.grad, this.trainableRows.firstRow);
      rec.submit();
    }
    dRes.release();
    state.hidden.release();
  }

  /** logits [R, vocab] = rows [R, hidden] LM_head^T (part by part when the head is split by rows). */
  logits(rec: Recorder, rows: Tensor, out: Tensor): void {
    const R = rows.shape[0];
    const H = this.shape.hiddenSize;
    const V = this.shape.vocabSize;
    const { parts } = this.weights.lmHead;
    if (parts.length === 1) {
      matmul(rec, rows, parts[0].tensor, out, { M: R, N: V, K: H, transB: true });
      return;
    }
    for (const part of parts) {
      const block = this.gpu.tensor('f32', [R, part.rows], undefined, { label: 'logits-part' });
      matmul(rec, rows, part.tensor, block, { M: R, N: part.rows, K: H, transB: true });
      copyColumns(rec, block, out, {
        rows: R,
        cols: part.rows,
        srcStride: part.rows,
        dstStride: V,
        dstCol0: part.row0,
      });
      block.release();
    }
  }

  /** d rows (=, or += with accumulate) = dLogits [R, vocab] LM_head. */
  logitsBackward(rec: Recorder, dLogits: Tensor, dRows: Tensor, accumulate = false): void {
    const R = dLogits.shape[0];
    const H = this.shape.hiddenSize;
    const V = this.shape.vocabSize;
    const { parts } = this.weights.lmHead;
    if (parts.length === 1) {
      matmul(rec, dLogits, parts[0].tensor, dRows, { M: R, N: H, K: V, beta: accumulate ? 1 : 0 });
      return;
    }
    parts.forEach((part, i) => {
      const block = this.gpu.tensor('f32', [R, part.rows], undefined, { label: 'dlogits-part' });
      copyColumns(rec, dLogits, block, {
        rows: R,
        cols: part.rows,
        srcStride: V,
        srcCol0: part.row0,
        dstStride: part.rows,
      });
      const beta = accumulate || i > 0 ? 1 : 0;
      matmul(rec, block, part.tensor, dRows, { M: R, N: H, K: part.rows, beta });
      block.release();
    });
  }

  destroy(): void {
    this.lora?.destroy();
    this.trainableRows?.grad.release();
    releaseWeights(this.weights);
  }

  private embed(batch: DeviceBatch): Tensor {
    const x = this.gpu.tensor('f32', [batch.tokens, this.shape.hiddenSize], undefined, { label: 'x0' });
    const rec = this.gpu.recorder();
    for (const [i, part] of this.weights.embed.parts.entries())
      embedding(rec, batch.ids, part.tensor, x, { row0: part.row0, keep: i > 0 });
    rec.submit();
    return x;
  }

  private finalNorm(rec: Recorder, x: Tensor): Tensor {
    const hidden = this.gpu.tensor('f32', [x.shape[0], this.shape.hiddenSize], undefined, {
      label: 'hidden',
    });
    rmsnorm(rec, x, this.weights.norm, hidden, this.shape.rmsNormEps);
    return hidden;
  }
}
