/**
 * Test helpers shared by the graph's tests (model.test.ts, quantized-model.test.ts): a two-sequence
 * padded batch, the rows of real tokens in a hidden-state array, and the LoRA gradient check against
 * central finite differences of the f64 reference.
 */
import type { Gpu } from '@llara/gpu';
import { randomArray } from '@llara/gpu';
import { type MaskDescription, paddedCausalMask } from '@llara/kernels';
import { expect } from 'vitest';
import type { LlamaConfig } from './config.ts';
import type { LlamaModel } from './model.ts';
import type { LoraTarget, LoraWeights } from './peft.ts';
import { llamaForwardRefF64 } from './reference/llama-ref.ts';

/** Two sequences of `lens` tokens padded to `T` on one side, with deterministic ids below `vocab`. */
export function twoSequences(
  vocab: number,
  T: number,
  lens: [number, number],
  padding: 'left' | 'right' = 'right',
) {
  const mask: MaskDescription = paddedCausalMask(T, lens, padding);
  const ids = new Int32Array(2 * T);
  const positions = new Int32Array(2 * T);
  for (let b = 0; b < 2; b++) {
    for (let s = mask.validStart[b]; s < mask.validEnd[b]; s++) {
      ids[b * T + s] = 3 + ((b * 131 + s * 17) % (vocab - 3));
      positions[b * T + s] = s - mask.validStart[b];
    }
  }
  return { ids, positions, mask };
}

/** Rows of real tokens only (padding rows are zeros in both, but we compare only what is defined). */
export function validRows(hidden: ArrayLike<number>, mask: MaskDescription, H: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < mask.batch; b++)
    for (let s = mask.validStart[b]; s < mask.validEnd[b]; s++)
      for (let h = 0; h < H; h++) out.push(hidden[(b * mask.seqLen + s) * H + h]);
  return out;
}

/**
 * Runs `model`'s backward (its LoRA uploaded from `lora`) for loss = sum(hidden * R) over the real
 * rows of `batch`, and expects each gradient entry `indices(values)` of every `targets` A and B in every
 * layer to match the central difference of the f64 reference on `weights` (f32 GPU gradient vs O(eps^2)
 * truncation: 2e-3 + 2e-3 |fd|). Returns how many entries were checked.
 */
export async function expectLoraGradientsMatchFiniteDifferences(o: {
  gpu: Gpu;
  config: LlamaConfig;
  weights: Map<string, Float32Array>;
  model: LlamaModel;
  lora: LoraWeights;
  batch: ReturnType<typeof twoSequences>;
  targets: readonly LoraTarget[];
  indices: (values: Float32Array) => number[];
}): Promise<number> {
  const { gpu, config, weights, model, lora, batch } = o;
  const H = config.hiddenSize;
  const { seqLen, validStart, validEnd } = batch.mask;
  // d loss / d hidden = R on real rows, 0 on padding rows.
  const R = randomArray(batch.ids.length * H, 5);
  for (let b = 0; b < 2; b++)
    for (let s = 0; s < seqLen; s++)
      if (s < validStart[b] || s >= validEnd[b]) R.fill(0, (b * seqLen + s) * H, (b * seqLen + s + 1) * H);
  const lossOf = (w: LoraWeights) => {
    const h = llamaForwardRefF64(config, weights, batch, { lora: w });
    let s = 0;
    for (let i = 0; i < R.length; i++) s += h[i] * R[i];
    return s;
  };
  const dev = model.upload(batch);
  const state = model.forwardTrain(dev);
  const dHidden = gpu.tensor('f32', [batch.ids.length, H], R);
  model.backward(state, dHidden);
  const eps = 1e-3;
  let checked = 0;
  for (let l = 0; l < config.numLayers; l++) {
    for (const t of o.targets) {
      for (const which of ['A', 'B'] as const) {
        const pair = model.lora!.layers[l][t]!;
        const g = (await gpu.read(which === 'A' ? pair.gA : pair.gB)) as Float32Array;
        const values = lora.layers[l][t]![which];
        for (const idx of o.indices(values)) {
          const orig = values[idx];
          values[idx] = orig + eps;
          const up = lossOf(lora);
          values[idx] = orig - eps;
          const down = lossOf(lora);
          values[idx] = orig;
          const fd = (up - down) / (2 * eps);
          expect(
            Math.abs(g[idx] - fd),
            `layer ${l} ${t}.${which}[${idx}]: gpu ${g[idx]} fd ${fd}`,
          ).toBeLessThanOrEqual(2e-3 + 2e-3 * Math.abs(fd));
          checked++;
        }
      }
    }
  }
  dHidden.release();
  dev.release();
  return checked;
}
