/**
 * What a pretraining checkpoint holds and how a run continues from one, without any storage: the
 * same snapshot and restore serve files in Node and the Origin Private File System in a browser tab,
 * so both run the same `Pretrainer` steps from the same state. The snapshot names its arrays as
 * `runPretrain` does (`m.<param>`, `v.<param>`, the PEFT adapter files), so either side can read it.
 *
 * ```ts
 * const runConfig = pretrainRunConfig(config, rows.length);
 * const snap = await snapshotPretrain(trainer, runConfig);        // store snap.state / optimizer / files
 * restorePretrain(trainer, { state, optimizer }, runConfig, 'checkpoint-20'); // after uploading its adapter
 * ```
 */
import { serializeAdapter } from '@llara/llama';
import type { FloatArray, TrainerState } from './checkpoint-io.ts';
import type { PretrainConfig, Pretrainer } from './pretrainer.ts';

/**
 * The settings a resume must share with the run it continues (anything else may change); `quantize`
 * is the base's storage for QLoRA, absent for a full-precision base.
 */
export const RESUME_KEYS = ['recipe', 'batch', 'gradAccum', 'seed', 'rows', 'maxLen', 'quantize'] as const;

/** The run's settings as saved in `trainer_state.json` (`config`). */
export function pretrainRunConfig(o: PretrainConfig, rows: number): Record<string, unknown> {
  return {
    recipe: o.recipe.name,
    maxLen: o.maxLen,
    batch: o.batch,
    gradAccum: o.gradAccum,
    steps: o.steps,
    schedule: o.schedule,
    adamw: o.adamw,
    seed: o.seed,
    ar: o.ar,
    removeStopWords: o.removeStopWords,
    rows,
  };
}

/** A checkpoint in memory: trainer state, AdamW moments and the PEFT adapter files. */
export interface PretrainSnapshot {
  state: TrainerState;
  optimizer: Record<string, FloatArray>;
  files: { 'adapter_config.json': string; 'adapter_model.safetensors': Uint8Array };
}

/** Reads the trainer's state, moments and adapter off the GPU. */
export async function snapshotPretrain(
  trainer: Pretrainer,
  runConfig: Record<string, unknown>,
): Promise<PretrainSnapshot> {
  const lora = trainer.model.lora;
  if (!lora) throw new Error('The model has no LoRA adapter to save.');
  const state = await trainer.saveState();
  const { configJson, safetensors } = serializeAdapter(await lora.toWeights());
  const optimizer: Record<string, FloatArray> = {};
  lora.parameters().forEach((p, i) => {
    optimizer[`m.${p.name}`] = { shape: [...p.param.shape], data: state.m[i] };
    optimizer[`v.${p.name}`] = { shape: [...p.param.shape], data: state.v[i] };
  });
  return {
    state: { step: state.step, data: state.data, seed: trainer.config.seed, config: runConfig },
    optimizer,
    files: { 'adapter_config.json': configJson, 'adapter_model.safetensors': safetensors },
  };
}

/**
 * Throws one sentence when the checkpoint at `where` belongs to a run with other settings; `keys` are
 * the settings that must match (pretraining's by default; fine-tuning passes its own).
 */
export function checkResumable(
  saved: Record<string, unknown>,
  runConfig: Record<string, unknown>,
  where: string,
  keys: readonly string[] = RESUME_KEYS,
): void {
  for (const key of keys) {
    if (JSON.stringify(saved[key]) !== JSON.stringify(runConfig[key])) {
      throw new Error(
        `Cannot resume from ${where}: it was trained with ${key} = ${JSON.stringify(saved[key])}, not ${JSON.stringify(runConfig[key])}.`,
      );
    }
  }
}

/**
 * Puts step, data position and AdamW moments back (the caller has already uploaded the checkpoint's
 * adapter as `trainer.model.lora`), after checking that the checkpoint belongs to this run.
 */
export function restorePretrain(
  trainer: Pretrainer,
  restored: { state: TrainerState; optimizer: Record<string, FloatArray> | null },
  runConfig: Record<string, unknown>,
  where: string,
): void {
  checkResumable(restored.state.config, runConfig, where);
  const lora = trainer.model.lora;
  if (!lora) throw new Error('The model has no LoRA adapter to restore into.');
  const { m, v } = checkpointMoments(lora.parameters(), restored.optimizer, where);
  trainer.restoreState({
    step: restored.state.step,
    data: restored.state.data,
    m,
    v,
  });
}

/**
 * The AdamW moments of `params` from a checkpoint's optimizer arrays, in parameter order; throws one
 * sentence naming the checkpoint when one is missing or has another size than its parameter.
 */
export function checkpointMoments(
  params: readonly { name: string; param: { shape: readonly number[] } }[],
  optimizer: Record<string, FloatArray> | null,
  where: string,
): { m: Float32Array[]; v: Float32Array[] } {
  const moments = (k: 'm' | 'v') =>
    params.map((p) => {
      const a = optimizer?.[`${k}.${p.name}`];
      if (!a || a.data.length !== p.param.shape.reduce((x, y) => x * y, 1))
        throw new Error(`Checkpoint ${where} lacks optimizer state ${k}.${p.name}.`);
      return a.data;
    });
  return { m: moments('m'), v: moments('v') };
}
