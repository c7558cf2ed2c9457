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
import type { LlamaModel } from '@llara/llama';
import { Embedder, getRecipe } from '@llara/trainer';
import { type DevicePeaks, type Roofline, rooflineFraction } from './roofline.ts';
import type { BenchRow, MemoryUse } from './rows.ts';
import { randomText, wordTokenizer } from './synthetic-text.ts';

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
