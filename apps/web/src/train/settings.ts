/**
 * The Train panel's knobs and what they mean to the trainer: one `TrainSettings` object (what the form
 * holds, what the worker and its checkpoints store) turned into the `PretrainConfig` and `LoraConfig`
 * that `llara pretrain` builds from its flags, so the same settings give the same run in Node.
 *
 * @example
 * const s = { ...DEFAULT_TRAIN_SETTINGS, steps: 10 };
 * const config = pretrainConfig(s, 512);          // for new Pretrainer(...)
 * const lora = initLoraWeights(loraConfig(s), modelConfig, s.seed);
 */
import { LORA_TARGETS, type LoraConfig } from '@llara/llama';
import {
  getRecipe,
  type PretrainConfig,
  SCHEDULE_KINDS,
  type ScheduleKind,
  warmupStepsFromRatio,
} from '@llara/trainer';

export type TrainRecipe = 'flag' | 'paper';

export interface TrainSettings {
  recipe: TrainRecipe;
  /** Optimizer steps. */
  steps: number;
  /** Sequences per step. */
  batch: number;
  /** Peak learning rate. */
  lr: number;
  schedule: ScheduleKind;
  /** Warm-up steps (the CLI's default: 10% of the steps). */
  warmup: number;
  loraR: number;
  loraAlpha: number;
  loraDropout: number;
  /** Longest sequence, prompts included (flag's prompt alone is 85 stories260K tokens). */
  maxLen: number;
  /** The next-token AR loss (off by default, as in `pnpm demo`: it competes with bag-of-words on a tiny model). */
  ar: boolean;
  seed: number;
  /** Checkpoint every N steps (and on Pause, Stop and at the end). */
  saveEvery: number;
}

/** Defaults for the bundled stories260K: the demo's learning rate and schedule, a minute-scale run. */
export const DEFAULT_TRAIN_SETTINGS: TrainSettings = {
  recipe: 'flag',
  steps: 40,
  batch: 4,
  lr: 1e-2,
  schedule: 'cosine',
  warmup: 4,
  loraR: 16,
  loraAlpha: 32,
  loraDropout: 0.1,
  maxLen: 128,
  ar: false,
  seed: 0,
  saveEvery: 5,
};

/** The warm-up `llara pretrain` uses when `--warmup` is not given. */
export function defaultWarmup(steps: number): number {
  return warmupStepsFromRatio(0.1, steps);
}

/** Checks settings from the form (or a checkpoint); throws one sentence naming the knob. */
export function checkSettings(s: TrainSettings): TrainSettings {
  const int = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min)
      throw new Error(`${name} must be a whole number of at least ${min}.`);
  };
  if (s.recipe !== 'flag' && s.recipe !== 'paper')
    throw new Error(`Recipe must be flag or paper, not ${s.recipe}.`);
  int('Steps', s.steps, 1);
  int('Batch', s.batch, 1);
  int('Warm-up steps', s.warmup, 0);
  int('LoRA rank', s.loraR, 1);
  int('Max length', s.maxLen, 16);
  int('Seed', s.seed, 0);
  int('Checkpoint every', s.saveEvery, 1);
  if (!(s.lr > 0 && s.lr < 1)) throw new Error('Learning rate must be between 0 and 1.');
  if (!SCHEDULE_KINDS.includes(s.schedule))
    throw new Error(`Schedule must be one of ${SCHEDULE_KINDS.join(', ')}.`);
  if (!(s.loraAlpha > 0)) throw new Error('LoRA alpha must be above 0.');
  if (!(s.loraDropout >= 0 && s.loraDropout < 1))
    throw new Error('LoRA dropout must be at least 0 and below 1.');
  return s;
}

/** What `llara pretrain` passes to `runPretrain` for the same flags (AdamW as the CLI: no decay, clip 1). */
export function pretrainConfig(s: TrainSettings, baseVocab: number | undefined): PretrainConfig {
  const recipe = getRecipe(s.recipe);
  return {
    recipe,
    maxLen: s.maxLen,
    batch: s.batch,
    gradAccum: 1,
    steps: s.steps,
    schedule: { kind: s.schedule, lr: s.lr, warmupSteps: s.warmup, totalSteps: s.steps },
    adamw: { lr: s.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 },
    seed: s.seed,
    removeStopWords: false,
    ar: s.ar && Boolean(recipe.loss?.ar),
    baseVocab,
  };
}

/** The fresh adapter's configuration: LoRA on all seven projections, as the CLI's default. */
export function loraConfig(s: TrainSettings, baseModel: string | null = null): LoraConfig {
  return {
    r: s.loraR,
    alpha: s.loraAlpha,
    dropout: s.loraDropout,
    targets: [...LORA_TARGETS],
    useRslora: false,
    baseModel,
    modulesToSave: [],
  };
}
