/**
 * Contrastive fine-tuning (InfoNCE with hard and in-batch negatives), device side and browser safe:
 * per micro-batch B rows are drawn, each gives its query and a group of 1 positive + (g-1) hard
 * negatives (`sampleGroup`), queries take the recipe's query layout and passages its passage layout,
 * and the InfoNCE step runs on the GPU (plain, or GradCache with `chunkSize`). AdamW with clipping,
 * lr schedule, gradient accumulation, and the state a checkpoint needs for an exact resume, as
 * `Pretrainer`. File I/O lives in finetune-node.ts.
 *
 * ```ts
 * const rows = parseFinetuneJsonl(text, 'train.jsonl');
 * const trainer = new Finetuner(model, tokenizer, rows, {
 *   recipe: getRecipe('flag'), batch: 4, groupSize: 8, tau: 0.02, queryMaxLen: 64, passageMaxLen: 160,
 *   gradAccum: 1, steps: 100, chunkSize: 0, seed: 0, baseVocab: 32000,
 *   schedule: { kind: 'linear', lr: 3e-4, warmupSteps: 10, totalSteps: 100 },
 *   adamw: { ...ADAMW_DEFAULTS, lr: 3e-4 },
 * });
 * for (let i = 0; i < 100; i++) console.log(await trainer.trainStep());
 * ```
 */
import type { LlamaModel } from '@llara/llama';
import { type ContrastiveOptions, type ContrastiveResult, plainContrastiveStep } from './contrastive-step.ts';
import { EpochSampler, type FinetuneRow, groupRng, mixSeed, type SamplerState, sampleGroup } from './data.ts';
import { gradCacheStep } from './gradcache.ts';
import { type Layout, passageLayout, queryLayout, type TokenizerLike } from './layout.ts';
import type { MetricsLine } from './metrics-log.ts';
import { AdamW, type AdamWConfig } from './optimizer.ts';
import { NonFiniteError } from './pretrainer.ts';
import type { Recipe } from './recipes.ts';
import { learningRate, type Schedule } from './schedule.ts';

export interface FinetuneConfig {
  recipe: Recipe;
  /** Queries per micro-batch (B). */
  batch: number;
  /** Passages per query: 1 positive + groupSize-1 hard negatives (g). */
  groupSize: number;
  /** InfoNCE temperature (scores q.p / tau). */
  tau: number;
  queryMaxLen: number;
  passageMaxLen: number;
  gradAccum: number;
  steps: number;
  schedule: Schedule;
  adamw: AdamWConfig;
  seed: number;
  /** GradCache: sequences per forward pass; 0 embeds the whole micro-batch with its graph at once. */
  chunkSize: number;
  /** Vocabulary without the recipe's added tokens (flag's specials are placed after it). */
  baseVocab?: number;
}

export type FinetuneMetrics = MetricsLine & { grad_norm: number };

/** What a checkpoint holds besides the adapter. */
export interface FinetunerState {
  step: number;
  data: SamplerState;
  m: Float32Array[];
  v: Float32Array[];
}

/**
 * Forward + backward of one contrastive micro-batch (LoRA gradients accumulate on the device): the
 * plain path, or GradCache when `o.chunkSize` > 0.
 */
export function contrastiveStep(
  model: LlamaModel,
  recipe: Recipe,
  queries: readonly Layout[],
  passages: readonly Layout[],
  o: ContrastiveOptions,
): Promise<ContrastiveResult> {
  const chunk = o.chunkSize ?? 0;
  if (chunk > 0) return gradCacheStep(model, recipe, queries, passages, { ...o, chunkSize: chunk });
  return plainContrastiveStep(model, recipe, queries, passages, o);
}

export class Finetuner {
  /** Optimizer steps completed. */
  step = 0;
  readonly optimizer: AdamW;
  private sampler: EpochSampler;

  constructor(
    readonly model: LlamaModel,
    readonly tokenizer: TokenizerLike,
    readonly rows: FinetuneRow[],
    readonly config: FinetuneConfig,
  ) {
    if (!model.lora) throw new Error('Fine-tuning needs a LoRA adapter on the model (model.lora).');
    for (const [name, v, min] of [
      ['batch', config.batch, 1],
      ['group size', config.groupSize, 1],
      ['gradient accumulation', config.gradAccum, 1],
      ['GradCache chunk size', config.chunkSize, 0],
    ] as const) {
      if (!Number.isInteger(v) || v < min)
        throw new Error(`The ${name} must be an integer >= ${min}, got ${v}.`);
    }
    if (!(config.tau > 0)) throw new Error(`The temperature tau must be positive, got ${config.tau}.`);
    this.optimizer = new AdamW(model.gpu, model.lora.parameters(), config.adamw);
    this.sampler = new EpochSampler(rows.length, { seed: config.seed });
  }

  /** The next micro-batch's layouts: B queries and their B groups of passages (positive first). */
  nextLayouts(): { queries: Layout[]; passages: Layout[] } {
    const c = this.config;
    const queries: Layout[] = [];
    const passages: Layout[] = [];
    const qOpts = { maxLen: c.queryMaxLen, baseVocab: c.baseVocab };
    const pOpts = { maxLen: c.passageMaxLen, baseVocab: c.baseVocab };
    for (let i = 0; i < c.batch; i++) {
      const { row, epoch } = this.sampler.next();
      const group = sampleGroup(this.rows[row], c.groupSize, groupRng(c.seed, epoch, row));
      queries.push(queryLayout(c.recipe, this.tokenizer, group.query, qOpts));
      for (const p of group.passages) passages.push(passageLayout(c.recipe, this.tokenizer, p, pOpts));
    }
    return { queries, passages };
  }

  /** One optimizer step over `gradAccum` micro-batches; the loss is the one before the update. */
  async trainStep(): Promise<FinetuneMetrics> {
    const c = this.config;
    const start = performance.now();
    let tokens = 0;
    let loss = 0;
    for (let micro = 0; micro < c.gradAccum; micro++) {
      const { queries, passages } = this.nextLayouts();
      const r = await contrastiveStep(this.model, c.recipe, queries, passages, {
        groupSize: c.groupSize,
        tau: c.tau,
        seed: mixSeed(c.seed, this.step, micro),
        chunkSize: c.chunkSize,
      });
      if (!Number.isFinite(r.loss)) {
        throw new NonFiniteError(
          `The training loss became ${r.loss} at step ${this.step}; stopping before the update (the last checkpoint is intact).`,
        );
      }
      loss += r.loss;
      tokens += r.tokens;
    }
    const lr = learningRate(c.schedule, this.step);
    const gradNorm = await this.optimizer.update(lr, 1 / c.gradAccum);
    if (!Number.isFinite(gradNorm)) {
      throw new NonFiniteError(
        `The gradient norm became ${gradNorm} at step ${this.step}; stopping (the last checkpoint is intact).`,
      );
    }
    const seconds = (performance.now() - start) / 1000;
    const line: FinetuneMetrics = {
      step: this.step,
      loss: loss / c.gradAccum,
      lr,
      tokens_per_s: tokens / seconds,
      grad_norm: gradNorm,
    };
    this.step++;
    return line;
  }

  /** Step, data position and optimizer moments (the adapter itself is saved by the caller). */
  async saveState(): Promise<FinetunerState> {
    const { m, v } = await this.optimizer.state();
    return { step: this.step, data: this.sampler.state(), m, v };
  }

  /** Continues exactly where a checkpoint stopped (the adapter itself is restored by the caller). */
  restoreState(s: FinetunerState): void {
    this.step = s.step;
    this.sampler = new EpochSampler(this.rows.length, s.data);
    this.optimizer.load({ step: s.step, m: s.m, v: s.v });
  }

  destroy(): void {
    this.optimizer.destroy();
  }
}
