/**
 * End-to-end benchmarks on a random-init LLaMA-2-7B-shaped model (`RandomCheckpoint`, f16 weights, the
 * 16 `flag` tokens appended: vocab 32016; nothing is read from disk):
 * - `embed`: passages through the `flag` recipe's `Embedder` (layout, left-padded batch, forward, mean of
 *   the 8 special positions, L2 norm, readback), tokens/s at seq 128 and 512 for batches 1..64;
 * - `train_pretext`: one LLaRA pretext optimizer step (`Pretrainer`: flag layout with the EBAR-blind mask,
 *   bag-of-words + AR losses, LoRA r=64 on all 7 projections with dropout 0.1, activation checkpointing,
 *   AdamW with clipping), tokens/s at seq 512; the first shape again with `trainingAttention` f16 (the
 *   tensor-core flash attention forward and backward) and with `trainingInputGradients` f16 (dy W on
 *   tensor cores, dy rescaled);
 * - `train_contrastive`: one InfoNCE fine-tuning step (`Finetuner`, flag recipe, B queries with groups of
 *   g passages), on the plain path and with GradCache (chunks of `chunk` sequences): the same step, and
 *   the device memory each needs (GradCache keeps only one chunk's activations);
 * each with the device memory it held (weights + adapters + optimizer moments + the buffer pool).
 * The model FLOP rate (2 x non-embedding parameters per token plus causal attention; training counts
 * forward, recomputation and input-gradient backward: 3x) is reported against the tensor-core roofline
 * where the f16 subgroup-matrix matmul runs, else against f32.
 * `smoke`: a tiny config (hidden 64, 2 layers, vocab 512 + 16) and short sequences.
 *
 * ```ts
 * const { rows } = await benchModel(gpu, { smoke: true });
 * ```
 */
import type { Gpu } from '@llara/gpu';
import {
  LLAMA2_7B_CONFIG,
  type LlamaConfig,
  type LlamaModel,
  RandomCheckpoint,
  uploadModel,
  weightTensors,
} from '@llara/llama';
import { ADAMW_DEFAULTS, Finetuner, getRecipe, type Pretrainer } from '@llara/trainer';
import {
  attachLora,
  attentionFlops,
  benchPretrainer,
  fixedLengthPassages,
  layerParameters,
  measureMemory,
  measureTrainSteps,
  modelRow,
} from './model-rows.ts';
import { devicePeaks, type Roofline } from './roofline.ts';
import { type BenchRow, errorMessage, type Failure } from './rows.ts';
import { randomText, wordTokenizer } from './synthetic-text.ts';
import { timeWall } from './timing.ts';
import type { TorchDType, TorchSpec } from './torch-plan.ts';

export interface ModelBenchOptions {
  smoke?: boolean;
  /** Fewer 7B rows (embedding B8 and B64, training at seq 512): one accelerator call. */
  quick?: boolean;
  /** Wall-clock budget for the suite (model upload included); rows past it are skipped (default 420 s). */
  budgetMs?: number;
  /** Only rows whose name starts with one of these ('embed', 'train'). */
  only?: string[];
  onResult?: (r: BenchRow | Failure) => void;
  /** Progress lines (model upload, each row). */
  log?: (line: string) => void;
}

/** Tokens the flag recipe appends to the vocabulary. */
const ADDED_TOKENS = 16;

export const TINY_CONFIG: LlamaConfig = {
  ...LLAMA2_7B_CONFIG,
  hiddenSize: 64,
  intermediateSize: 172,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 4,
  headDim: 16,
  vocabSize: 512,
  maxPositionEmbeddings: 512,
};

interface ModelPlan {
  config: LlamaConfig;
  model: '7b' | 'tiny';
  /** [seq, batch] pairs, in the order they run (small first, so a tight budget keeps the most rows). */
  embed: [number, number][];
  train: [number, number][];
  /** [queries, group size, max length, GradCache chunk]: contrastive steps, plain and GradCache. */
  contrastive: [number, number, number, number][];
  lora: { r: number; alpha: number; dropout: number };
}

export function modelPlanShapes(smoke: boolean, quick = false): ModelPlan {
  const lora = { r: 64, alpha: 16, dropout: 0.1 };
  if (smoke)
    return {
      config: TINY_CONFIG,
      model: 'tiny',
      embed: [
        [32, 1],
        [32, 4],
        [64, 4],
      ],
      train: [[64, 2]],
      contrastive: [[2, 4, 48, 2]],
      lora: { ...lora, r: 8 },
    };
  return {
    config: LLAMA2_7B_CONFIG,
    model: '7b',
    embed: quick
      ? [
          [128, 8],
          [512, 8],
          [128, 64],
        ]
      : [
          [128, 1],
          [128, 8],
          [512, 1],
          [512, 8],
          [128, 64],
          [512, 64],
        ],
    train: [
      [512, 2],
      [512, 8],
    ],
    contrastive: [[8, 8, 256, 8]],
    lora,
  };
}

function embedKey(model: string, B: number, T: number, dtype: string): string {
  return `embed|${model}|B${B}xT${T}|${dtype}`;
}

/** Which part of a training step runs on tensor cores beyond the forward projections (null: none). */
type TrainTensorCores = 'attention' | 'dx' | null;

function trainDtype(tc: TrainTensorCores): string {
  return tc === 'attention' ? 'f16w+f16attn' : tc === 'dx' ? 'f16w+f16dx' : 'f16w';
}

function trainKey(model: string, B: number, T: number, dtype: string): string {
  return `train_pretext|${model}|B${B}xT${T}|${dtype}`;
}

function contrastiveKey(model: string, B: number, g: number, T: number, chunk: number): string {
  return `train_contrastive|${model}|B${B}xg${g}xT${T}|f16w|${chunk > 0 ? `gradcache${chunk}` : 'plain'}`;
}

/** The PyTorch twins (transformers LlamaModel with random weights; PEFT LoRA for training). */
export function modelPlan(smoke: boolean, quick = false): TorchSpec[] {
  const p = modelPlanShapes(smoke, quick);
  const c = p.config;
  const cfg = {
    hidden: c.hiddenSize,
    intermediate: c.intermediateSize,
    layers: c.numLayers,
    heads: c.numHeads,
    kv_heads: c.numKvHeads,
    head_dim: c.headDim,
    vocab: c.vocabSize + ADDED_TOKENS,
  };
  const out: TorchSpec[] = [];
  const dtypes: TorchDType[] = ['bf16', 'fp32'];
  for (const dtype of dtypes) {
    for (const [T, B] of p.embed)
      out.push({ key: embedKey(p.model, B, T, dtype), op: 'embed', dtype, B, T, ...cfg });
    for (const [T, B] of p.train)
      out.push({ key: trainKey(p.model, B, T, dtype), op: 'train_lora', dtype, B, T, ...cfg, ...p.lora });
  }
  return out;
}

export async function benchModel(
  gpu: Gpu,
  opts: ModelBenchOptions = {},
): Promise<{ rows: BenchRow[]; failures: Failure[] }> {
  const smoke = opts.smoke ?? false;
  const log = opts.log ?? (() => {});
  const deadline = performance.now() + (opts.budgetMs ?? 420_000);
  const plan = modelPlanShapes(smoke, opts.quick);
  const config = plan.config;
  const device = gpu.caps.adapter.device || gpu.caps.adapter.description || 'unknown';
  const peaks = devicePeaks(device);
  const roofline: Roofline = gpu.has('subgroup-matrix') ? 'fp16-tensor' : 'fp32';
  const rows: BenchRow[] = [];
  const failures: Failure[] = [];
  const wanted = (name: string) => !opts.only || opts.only.some((p) => name.startsWith(p));
  const emit = (r: BenchRow | Failure) => {
    if ('ms' in r) rows.push(r);
    else failures.push(r);
    opts.onResult?.(r);
  };
  const keys = [
    ...(wanted('embed') ? plan.embed.map(([T, B]) => embedKey(plan.model, B, T, 'f16w')) : []),
    ...(wanted('train') ? plan.train.map(([T, B]) => trainKey(plan.model, B, T, 'f16w')) : []),
    ...(wanted('train')
      ? plan.train.slice(0, 1).map(([T, B]) => trainKey(plan.model, B, T, 'f16w+f16attn'))
      : []),
    ...(wanted('train')
      ? plan.contrastive.flatMap(([B, g, T, c]) => [0, c].map((k) => contrastiveKey(plan.model, B, g, T, k)))
      : []),
  ];
  if (keys.length === 0) return { rows, failures };

  const t0 = performance.now();
  let model: LlamaModel;
  try {
    const source = new RandomCheckpoint(config, { seed: 1, dtype: 'F16' });
    model = await uploadModel(gpu, config, source, {
      addedTokens: ADDED_TOKENS,
      onProgress: (p) => {
        if (p.index % 50 === 0) log(`model upload: tensor ${p.index + 1}/${p.count}`);
      },
    });
    await gpu.sync();
  } catch (e) {
    for (const key of keys)
      emit({ suite: 'model', key, error: `the random model could not be loaded: ${errorMessage(e)}` });
    return { rows, failures };
  }
  log(`model upload: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const w = model.weights;
  const weightsBytes = weightTensors(w).reduce((s, t) => s + t.byteLength, 0);
  const layerParams = layerParameters(config);
  const tok = wordTokenizer(config.vocabSize);
  const recipe = getRecipe('flag');
  /** Observed tokens/s, to skip rows that cannot finish within the budget. */
  let rate = 0;

  const memoryDuring = (
    extra: { trainableBytes: number; optimizerBytes: number },
    body: () => Promise<void>,
  ) => measureMemory(gpu, weightsBytes, extra, body);

  const fits = (key: string, tokens: number, passes: number): boolean => {
    const left = deadline - performance.now();
    const predicted = rate > 0 ? (tokens / rate) * 1000 * passes : 0;
    if (left <= 0 || predicted > left) {
      emit({
        suite: 'model',
        key,
        error: `skipped: the model suite's time budget would be exceeded (about ${(predicted / 1000).toFixed(0)} s needed, ${(Math.max(0, left) / 1000).toFixed(0)} s left)`,
      });
      return false;
    }
    return true;
  };

  const rowOf = (r: Omit<Parameters<typeof modelRow>[0], 'dtype' | 'roofline' | 'peaks'>): BenchRow =>
    modelRow({ ...r, dtype: 'f16w', roofline, peaks });

  const timing = smoke
    ? { warmup: 1, maxIterations: 2, targetMs: 2_000 }
    : { warmup: 1, maxIterations: 3, targetMs: 20_000 };

  const embedRow = async (T: number, B: number) => {
    const key = embedKey(plan.model, B, T, 'f16w');
    if (!fits(key, B * T, 1 + timing.maxIterations)) return;
    try {
      const { embedder, items } = fixedLengthPassages(model, config.vocabSize, B, T);
      let t = { ms: 0, samples: [] as number[] };
      let calls = 0;
      const dispatches = gpu.dispatchesSubmitted;
      const memory = await memoryDuring({ trainableBytes: 0, optimizerBytes: 0 }, async () => {
        t = await timeWall(() => {
          calls++;
          return embedder.embed(items, 'passage');
        }, timing);
      });
      const row = rowOf({
        name: 'embed',
        key,
        variant: 'flag passages: forward + mean of 8 special positions + L2 norm',
        B,
        T,
        t,
        flops: 2 * layerParams * B * T + attentionFlops(config, B, T),
        memory,
        torch: (['bf16', 'fp32'] as const).map((d) => embedKey(plan.model, B, T, d)),
      });
      // With the host cost per dispatch (kernel suite, dispatch_overhead) this says how much of a
      // small batch's time is the CPU's.
      row.note = `${Math.round((gpu.dispatchesSubmitted - dispatches) / calls)} dispatches per call`;
      rate = row.tokensPerS ?? rate;
      emit(row);
      log(`${key}: ${row.tokensPerS?.toFixed(0)} tokens/s`);
    } catch (e) {
      emit({ suite: 'model', key, error: errorMessage(e) });
    }
  };

  /** Puts a fresh LoRA (the plan's rank, all 7 projections) on the model; returns its parameter bytes. */
  const attachRowLora = (seed: number): number => attachLora(gpu, model, config, plan.lora, seed);

  /** Undoes `attachLora` and any training option a row set, so the next row starts from the bare model. */
  const endTraining = (trainer: { destroy(): void } | null) => {
    trainer?.destroy();
    model.lora?.destroy();
    model.lora = null;
    model.trainingAttention = 'f32';
    model.trainingInputGradients = 'f32';
    gpu.pool.trim();
  };

  const measureSteps = (trainer: { trainStep(): Promise<{ loss: number }> }, paramBytes: number) =>
    measureTrainSteps(gpu, weightsBytes, trainer, paramBytes, timing);

  /**
   * `tc` switches one part of the training step to tensor cores: 'attention' (flash attention forward
   * and backward, `LlamaModel.trainingAttention`) or 'dx' (the projections' input gradients,
   * `LlamaModel.trainingInputGradients`).
   */
  const trainRow = async (T: number, B: number, tc: TrainTensorCores = null) => {
    const key = trainKey(plan.model, B, T, trainDtype(tc));
    // A step costs about 3 forwards; the warm-up step and the timed ones.
    if (!fits(key, 3 * B * T, 1 + timing.maxIterations)) return;
    let trainer: Pretrainer | null = null;
    try {
      const paramBytes = attachRowLora(7);
      model.checkpointing = true;
      model.trainingAttention = tc === 'attention' ? 'f16' : 'f32';
      model.trainingInputGradients = tc === 'dx' ? 'f16' : 'f32';
      trainer = benchPretrainer(model, tok, config, { B, T, rows: 64 });
      const { t, memory } = await measureSteps(trainer, paramBytes);
      const row = rowOf({
        name: 'train_pretext',
        key,
        variant: `flag pretext step: LoRA r=${plan.lora.r} on 7 projections, checkpointing, AdamW${tc ? `, tensor cores for ${tc}` : ''}`,
        B,
        T,
        t,
        flops: 3 * (2 * layerParams * B * T + attentionFlops(config, B, T)),
        memory,
        torch: (['bf16', 'fp32'] as const).map((d) => trainKey(plan.model, B, T, d)),
      });
      emit(row);
      log(`${key}: ${row.tokensPerS?.toFixed(0)} tokens/s`);
    } catch (e) {
      emit({ suite: 'model', key, error: errorMessage(e) });
    } finally {
      endTraining(trainer);
    }
  };

  const contrastiveRow = async (B: number, g: number, T: number, chunkSize: number) => {
    const key = contrastiveKey(plan.model, B, g, T, chunkSize);
    const sequences = B * (1 + g);
    // GradCache runs the forward twice; a step is about 3 (plain) or 4 forwards.
    if (!fits(key, 4 * sequences * T, 1 + timing.maxIterations)) return;
    let trainer: Finetuner | null = null;
    try {
      const paramBytes = attachRowLora(8);
      const rows = Array.from({ length: 4 * B }, (_, i) => ({
        query: randomText(T, 9000 + i),
        pos: [{ text: randomText(T, 20000 + i) }],
        neg: Array.from({ length: g - 1 }, (_, j) => ({ text: randomText(T, 40000 + i * g + j) })),
      }));
      trainer = new Finetuner(model, tok, rows, {
        recipe,
        batch: B,
        groupSize: g,
        tau: 0.05,
        queryMaxLen: T,
        passageMaxLen: T,
        gradAccum: 1,
        steps: 1000,
        schedule: { kind: 'constant', lr: 1e-5, warmupSteps: 0, totalSteps: 1000 },
        adamw: ADAMW_DEFAULTS,
        seed: 3,
        chunkSize,
        baseVocab: config.vocabSize,
      });
      const { t, memory } = await measureSteps(trainer, paramBytes);
      const variant =
        chunkSize > 0
          ? `InfoNCE step, GradCache chunks of ${chunkSize}: ${B} queries x ${g} passages`
          : `InfoNCE step, plain: ${B} queries x ${g} passages`;
      const row = rowOf({
        name: 'train_contrastive',
        key,
        variant,
        B: sequences,
        T,
        t,
        flops:
          (chunkSize > 0 ? 4 : 3) * (2 * layerParams * sequences * T + attentionFlops(config, sequences, T)),
        memory,
        torch: [],
      });
      emit(row);
      log(
        `${key}: ${row.tokensPerS?.toFixed(0)} tokens/s, pool peak ${(memory.poolPeakInUseBytes / 2 ** 20).toFixed(0)} MiB`,
      );
    } catch (e) {
      emit({ suite: 'model', key, error: errorMessage(e) });
    } finally {
      endTraining(trainer);
    }
  };

  try {
    const embeds = wanted('embed') ? [...plan.embed] : [];
    const trains = wanted('train') ? [...plan.train] : [];
    // Small embedding rows first (they also calibrate `rate`), then the first training row, then the rest.
    const firstBig = embeds.findIndex(([T, B]) => B * T > 8 * 512);
    const small = firstBig < 0 ? embeds : embeds.slice(0, firstBig);
    const big = firstBig < 0 ? [] : embeds.slice(firstBig);
    for (const [T, B] of small) await embedRow(T, B);
    if (trains.length > 0) {
      await trainRow(...trains[0]);
      // The same step with each tensor-core option: what switching a training default would gain.
      await trainRow(...trains[0], 'attention');
      await trainRow(...trains[0], 'dx');
    }
    for (const [T, B] of big) await embedRow(T, B);
    for (const tr of trains.slice(1)) await trainRow(...tr);
    if (wanted('train'))
      for (const [B, g, T, c] of plan.contrastive) {
        await contrastiveRow(B, g, T, 0);
        await contrastiveRow(B, g, T, c);
      }
  } finally {
    model.destroy();
    gpu.pool.trim();
  }
  return { rows, failures };
}
