/**
 * The pieces every model-suite row is built from (synthetic-shape rows in model.bench.ts, model-folder
 * rows in model-folder.bench.ts).
 *
 * `measureMemory`: what a model benchmark row holds on the device while `body` runs: the pool is trimmed and its peak
 * reset first, so the peak is this measurement's own; weights, LoRA and optimizer bytes are added from
 * what the caller knows (they live outside the pool).
 *
 * ```ts
 * const memory = await measureMemory(gpu, weightsBytes, { trainableBytes: 0, optimizerBytes: 0 }, () => embed());
 * ```
 */
import type { Gpu } from '@llara/gpu';
import {
  initLoraWeights,
  type LlamaConfig,
  type LlamaModel,
  LORA_TARGETS,
  LoraGpu,
  parameterCount,
} from '@llara/llama';
import { ADAMW_DEFAULTS, Embedder, getRecipe, Pretrainer, type TokenizerLike } from '@llara/trainer';
import { type DevicePeaks, type Roofline, rooflineFraction } from './roofline.ts';
import type { BenchRow, MemoryUse } from './rows.ts';
import { randomPretrainRows, randomText, wordTokenizer } from './synthetic-text.ts';
import { timeWall } from './timing.ts';

export async function measureMemory(
  gpu: Gpu,
  weightsBytes: number,
  extra: { trainableBytes: number; optimizerBytes: number },
  body: () => Promise<void>,
): Promise<MemoryUse> {
  gpu.pool.trim();
  gpu.pool.stats.peakInUseBytes = gpu.pool.stats.inUseBytes;
  await body();
  const s = gpu.pool.stats;
  return {
    weightsBytes,
    ...extra,
    poolPeakInUseBytes: s.peakInUseBytes,
    poolAllocatedBytes: s.allocatedBytes,
    totalBytes: weightsBytes + extra.trainableBytes + extra.optimizerBytes + s.allocatedBytes,
  };
}

/** One model-suite row timed on the wall clock: `flops` per call, `B` sequences of `T` tokens. */
export function modelRow(r: {
  name: string;
  key: string;
  variant: string;
  dtype: string;
  B: number;
  T: number;
  t: { ms: number; samples: number[] };
  flops: number;
  memory: MemoryUse;
  torch: string[];
  roofline: Roofline;
  peaks: DevicePeaks | null;
  note?: string;
}): BenchRow {
  const gflops = r.flops / (r.t.ms * 1e6);
  return {
    suite: 'model',
    key: r.key,
    name: r.name,
    variant: r.variant,
    shape: `B${r.B}xT${r.T}`,
    dtype: r.dtype,
    ms: r.t.ms,
    iterations: r.t.samples.length,
    timing: 'wall',
    gflops,
    gbps: null,
    roofline: r.roofline,
    fraction: rooflineFraction(gflops, r.roofline, r.peaks),
    tokensPerS: (r.B * r.T) / (r.t.ms / 1000),
    memory: r.memory,
    torch: r.torch,
    ...(r.note !== undefined ? { note: r.note } : {}),
  };
}

/**
 * `B` synthetic passages that the flag recipe lays out to exactly `T` tokens, and the `Embedder` for
 * them: what the embedding rows time. Throws if the layout does not come to `T`.
 */
export function fixedLengthPassages(
  model: LlamaModel,
  baseVocab: number,
  B: number,
  T: number,
): { embedder: Embedder; items: string[] } {
  const embedder = new Embedder(model, wordTokenizer(baseVocab), getRecipe('flag'), {
    maxLen: T,
    batchSize: B,
    baseVocab,
  });
  const items = Array.from({ length: B }, (_, i) => randomText(T, 1000 + i));
  const tokens = embedder.layout(items[0], 'passage').ids.length;
  if (tokens !== T) throw new Error(`a passage laid out to ${tokens} tokens instead of ${T}`);
  return { embedder, items };
}

/** Causal attention FLOPs of one forward over B sequences of T tokens. */
export function attentionFlops(c: LlamaConfig, B: number, T: number): number {
  return c.numLayers * 4 * B * c.numHeads * c.headDim * ((T * (T + 1)) / 2);
}

/** Parameters of the decoder layers (what a token's forward multiplies by, 2 FLOPs each). */
export function layerParameters(c: LlamaConfig): number {
  return parameterCount(c) - c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2);
}

/** Uploads a freshly initialised LoRA on all 7 projections as `model.lora`; returns its parameter bytes. */
export function attachLora(
  gpu: Gpu,
  model: LlamaModel,
  config: LlamaConfig,
  { r, alpha, dropout }: { r: number; alpha: number; dropout: number },
  seed: number,
): number {
  const lora = initLoraWeights(
    { r, alpha, dropout, targets: [...LORA_TARGETS], useRslora: false, baseModel: null, modulesToSave: [] },
    config,
    seed,
  );
  model.lora = LoraGpu.upload(gpu, model.shape, lora);
  return model.lora.parameters().reduce((s, p) => s + p.param.byteLength, 0);
}

/** The flag pretext trainer the training rows time: constant lr, EBAE + EBAR on synthetic rows. */
export function benchPretrainer(
  model: LlamaModel,
  tok: TokenizerLike,
  config: LlamaConfig,
  { B, T, rows }: { B: number; T: number; rows: number },
): Pretrainer {
  return new Pretrainer(model, tok, randomPretrainRows(rows, T, 5000), {
    recipe: getRecipe('flag'),
    maxLen: T,
    batch: B,
    gradAccum: 1,
    steps: 1000,
    schedule: { kind: 'constant', lr: 1e-5, warmupSteps: 0, totalSteps: 1000 },
    adamw: ADAMW_DEFAULTS,
    seed: 3,
    removeStopWords: false,
    ar: true,
    baseVocab: config.vocabSize,
  });
}

/**
 * Wall time of `trainStep` (warm-up, then the timed repetitions) and the device memory it holds: the
 * adapter's values and gradients, AdamW's two moments and the pool. A non-finite loss is an error.
 */
export async function measureTrainSteps(
  gpu: Gpu,
  weightsBytes: number,
  trainer: { trainStep(): Promise<{ loss: number }> },
  paramBytes: number,
  timing: Parameters<typeof timeWall>[1],
): Promise<{ t: { ms: number; samples: number[] }; memory: MemoryUse }> {
  let t = { ms: 0, samples: [] as number[] };
  const memory = await measureMemory(
    gpu,
    weightsBytes,
    { trainableBytes: 2 * paramBytes, optimizerBytes: 2 * paramBytes },
    async () => {
      t = await timeWall(async () => {
        const line = await trainer.trainStep();
        if (!Number.isFinite(line.loss)) throw new Error(`the training loss became ${line.loss}`);
      }, timing);
    },
  );
  return { t, memory };
}
