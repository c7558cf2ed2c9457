/**
 * The LLaRA pretext training loop (EBAE + EBAR bag-of-words, optional AR), device side and browser
 * safe: data sampling, layouts, forward/backward with gradient accumulation, AdamW with clipping, lr
 * schedule, and the state a checkpoint needs for an exact resume. File I/O lives in node.ts.
 *
 * ```ts
 * const trainer = new Pretrainer(model, tokenizer, rows, { recipe: getRecipe('flag'), ...PRETRAIN_DEFAULTS });
 * for (let i = 0; i < 100; i++) console.log(await trainer.trainStep());
 * ```
 */
import type { LlamaModel } from '@llara/llama';
import { batchForRecipe, pretextArrays } from './batch.ts';
import { EpochSampler, mixSeed, type SamplerState } from './data.ts';
import { type PretrainRow, pretrainLayout, type TokenizerLike } from './layout.ts';
import type { MetricsLine } from './metrics-log.ts';
import { AdamW, type AdamWConfig } from './optimizer.ts';
import { pretextStep } from './pretext-step.ts';
import type { Recipe } from './recipes.ts';
import { learningRate, type Schedule } from './schedule.ts';

export interface PretrainConfig {
  recipe: Recipe;
  maxLen: number;
  /** Sequences per micro-batch. */
  batch: number;
  gradAccum: number;
  steps: number;
  schedule: Schedule;
  adamw: AdamWConfig;
  seed: number;
  removeStopWords: boolean;
  /** Next-token loss on the text (flag's released default: on). */
  ar: boolean;
  /** Vocabulary without the recipe's added tokens (undefined: the tokenizer knows the special ids). */
  baseVocab?: number;
}

/** A loss or gradient that is NaN/Inf: training stops before the broken update is saved. */
export class NonFiniteError extends Error {
  override name = 'NonFiniteError';
}

export class Pretrainer {
  /** Optimizer steps completed. */
  step = 0;
  readonly optimizer: AdamW;
  private sampler: EpochSampler;

  constructor(
    readonly model: LlamaModel,
    readonly tokenizer: TokenizerLike,
    readonly rows: PretrainRow[],
    readonly config: PretrainConfig,
  ) {
    if (!model.lora) throw new Error('Pretraining needs a LoRA adapter on the model (model.lora).');
    this.optimizer = new AdamW(model.gpu, model.lora.parameters(), config.adamw);
    this.sampler = new EpochSampler(rows.length, { seed: config.seed });
  }

  /** One optimizer step over `gradAccum` micro-batches; the losses are those before the update. */
  async trainStep(): Promise<MetricsLine & { grad_norm: number }> {
    const c = this.config;
    const start = performance.now();
    let tokens = 0;
    const sum = { loss: 0, ebae: 0, ebar: 0, ar: 0 };
    for (let micro = 0; micro < c.gradAccum; micro++) {
      const picked = this.sampler.nextBatch(c.batch).map((i) => this.rows[i]);
      const layouts = picked.map((row) =>
        pretrainLayout(c.recipe, this.tokenizer, row, {
          maxLen: c.maxLen,
          baseVocab: c.baseVocab,
          removeStopWords: c.removeStopWords,
        }),
      );
      const batch = batchForRecipe(c.recipe, layouts);
      const arrays = pretextArrays(c.recipe, batch);
      if (!c.ar) {
        arrays.arRows = new Int32Array(0);
        arrays.arLabels = new Int32Array(0);
      }
      const losses = await pretextStep(this.model, batch, arrays, mixSeed(c.seed, this.step, micro));
      if (!Number.isFinite(losses.loss)) {
        throw new NonFiniteError(
          `The training loss became ${losses.loss} at step ${this.step}; stopping before the update (the last checkpoint is intact).`,
        );
      }
      sum.loss += losses.loss;
      sum.ebae += losses.bowEbae;
      sum.ebar += losses.bowEbar;
      sum.ar += losses.ar ?? 0;
      tokens += arrays.realTokens;
    }
    const lr = learningRate(c.schedule, this.step);
    const gradNorm = await this.optimizer.update(lr, 1 / c.gradAccum);
    if (!Number.isFinite(gradNorm)) {
      throw new NonFiniteError(
        `The gradient norm became ${gradNorm} at step ${this.step}; stopping (the last checkpoint is intact).`,
      );
    }
    const n = c.gradAccum;
    const seconds = (performance.now() - start) / 1000;
    const line: MetricsLine & { grad_norm: number } = {
      step: this.step,
      loss: sum.loss / n,
      bow_ebae: sum.ebae / n,
      bow_ebar: sum.ebar / n,
      ...(c.ar ? { ar: sum.ar / n } : {}),
      lr,
      tokens_per_s: tokens / seconds,
      grad_norm: gradNorm,
    };
    this.step++;
    return line;
  }

  /** What a checkpoint holds besides the adapter: step, data position, optimizer moments. */
  async saveState(): Promise<{ step: number; data: SamplerState; m: Float32Array[]; v: Float32Array[] }> {
    const { m, v } = await this.optimizer.state();
    return { step: this.step, data: this.sampler.state(), m, v };
  }

  /** Continues exactly where a checkpoint stopped (the adapter itself is restored by the caller). */
  restoreState(s: { step: number; data: SamplerState; m: Float32Array[]; v: Float32Array[] }): void {
    this.step = s.step;
    this.sampler = new EpochSampler(this.rows.length, s.data);
    this.optimizer.load({ step: s.step, m: s.m, v: s.v });
  }

  destroy(): void {
    this.optimizer.destroy();
  }
}
