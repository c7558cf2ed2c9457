/**
 * For tests: a LoRA adapter on all 7 projections whose B is random (PEFT starts from zeros), so every
 * path of the graph carries signal into outputs and gradients.
 *
 * ```ts
 * model.lora = LoraGpu.upload(gpu, model.shape, randomLora(config, 4, 7));
 * ```
 */
import { randomArray } from '@llara/gpu';
import type { LlamaConfig } from './config.ts';
import { initLoraWeights, LORA_TARGETS, type LoraWeights } from './peft.ts';

export function randomLora(config: LlamaConfig, r: number, seed: number, dropout = 0): LoraWeights {
  const w = initLoraWeights(
    {
      r,
      alpha: 2 * r,
      dropout,
      targets: [...LORA_TARGETS],
      useRslora: false,
      baseModel: null,
      modulesToSave: [],
    },
    config,
    seed,
  );
  let s = seed;
  for (const layer of w.layers)
    for (const m of Object.values(layer)) m?.B.set(randomArray(m.B.length, ++s, -0.2, 0.2));
  return w;
}
