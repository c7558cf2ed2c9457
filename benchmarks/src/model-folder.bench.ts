/**
 * End-to-end rows on a model folder read from disk (a LLaMA-2-7B-shaped random checkpoint from
 * `device-main make-model`), the way a user loads it: for each base format (f16 as stored, and q8,
 * q4, nf4 quantized tensor by tensor as the shards stream in):
 * - a check first: our final hidden states of the reference's token rows against the PyTorch twin's
 *   (`benchmarks/gpu/torch_7b_reference.py`, the same folder, its weights put through the same
 *   quantize -> dequantize rules in torch, float32), min row cosine; a failed or missing check is
 *   written in the row's note, and a failed one stops that format's timed rows;
 * - `embed_folder`: the flag recipe's passages at B x T (tokens/s, documents/s in the note) beside
 *   torch f16 embedding of the same shape (transformers LlamaModel, the twin for every base: no
 *   bitsandbytes offline);
 * - `train_qlora` (nf4 only): one LLaRA pretext step with the frozen nf4 base and f32 LoRA r64 on the
 *   7 projections (checkpointing, AdamW), beside PEFT LoRA on a bf16 base, with the device memory.
 * Each row also records the load time (reading + quantizing on every core) in its note.
 *
 * ```ts
 * const { rows } = await benchModelFolder(gpu, { dir: '/tmp/llama-7b', ref: '/tmp/ref.json' });
 * ```
 */
import { readFileSync } from 'node:fs';
import { formatBytes, type Gpu, type QuantFormat } from '@llara/gpu';
import { paddedCausalMask } from '@llara/kernels';
import { type LlamaConfig, type LlamaModel, uploadModel, weightTensors } from '@llara/llama';
import { createQuantizePool, openModelFolder } from '@llara/llama/node';
import type { Pretrainer } from '@llara/trainer';
import { cosine } from './check-result.ts';
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
import { wordTokenizer } from './synthetic-text.ts';
import { timeWall } from './timing.ts';
import type { TorchSpec } from './torch-plan.ts';

export type BaseFormat = 'f16' | QuantFormat;
export const FOLDER_FORMATS: readonly BaseFormat[] = ['f16', 'q8', 'q4', 'nf4'];

/** What torch_7b_reference.py writes: per format, the final hidden states of the same token rows. */
export interface FolderReference {
  reference: string;
  /** Token rows ([batch, seq] row-major), positions 0.., causal, all valid. */
  batch: number;
  seq: number;
  ids: number[];
  /** Per format: post-norm hidden states [batch * seq, hidden], float32. */
  hidden: Partial<Record<BaseFormat, number[]>>;
}

export interface ModelFolderBenchOptions {
  /** The model folder (safetensors shards + config.json). */
  dir: string;
  /** torch_7b_reference.py's JSON; without it the rows say the check did not run. */
  ref?: string;
  smoke?: boolean;
  formats?: readonly BaseFormat[];
  /** Wall-clock budget (loading included); formats past it are skipped (default 540 s). */
  budgetMs?: number;
  onResult?: (r: BenchRow | Failure) => void;
  log?: (line: string) => void;
}

/** Tokens the flag recipe appends to the vocabulary. */
const ADDED_TOKENS = 16;

/** Min row cosine to the twin before a format is timed: f16 and q8 are near exact, 4-bit is not. */
export const MIN_FOLDER_COSINE: Record<BaseFormat, number> = { f16: 0.999, q8: 0.999, q4: 0.99, nf4: 0.99 };

export interface FolderPlan {
  /** [T, B]: the embedding batch (a realistic corpus pass: 32 passages of 256 tokens). */
  embed: [number, number];
  /** [T, B]: the QLoRA step (the issue's 7B numbers: LoRA r64, batch 8 x 512). */
  train: [number, number];
  lora: { r: number; alpha: number; dropout: number };
}

export function folderPlan(smoke: boolean): FolderPlan {
  return smoke
    ? { embed: [48, 4], train: [48, 2], lora: { r: 8, alpha: 16, dropout: 0.1 } }
    : { embed: [256, 32], train: [512, 8], lora: { r: 64, alpha: 16, dropout: 0.1 } };
}

/** The model's name in keys: `7b-L8` (LLaMA-2-7B sizes with 8 layers) or `tiny-L2`. */
export function folderModelName(hidden: number, layers: number): string {
  return `${hidden === 4096 ? '7b' : `h${hidden}`}-L${layers}`;
}

export function folderEmbedKey(model: string, B: number, T: number, format: BaseFormat): string {
  return `embed_folder|${model}|B${B}xT${T}|${format}w`;
}

export function folderTrainKey(model: string, B: number, T: number, format: BaseFormat): string {
  return `train_qlora|${model}|B${B}xT${T}|${format}w`;
}

/** Keys torch_7b_reference.py writes its twins under (the same strings its Python builds). */
export function folderTorchKeys(model: string, p: FolderPlan): { embed: string; train: string } {
  const [eT, eB] = p.embed;
  const [tT, tB] = p.train;
  return {
    embed: `embed_folder|${model}|B${eB}xT${eT}|fp16`,
    train: `train_lora|${model}|B${tB}xT${tT}|bf16`,
  };
}

/**
 * The PyTorch twins of the folder rows for torch_bench.py (its `embed` and `train_lora` ops on a random
 * model of the folder's shape: timing does not depend on the values): f16 embedding, bf16 PEFT LoRA.
 */
export function folderTorchPlan(config: LlamaConfig, smoke: boolean): TorchSpec[] {
  const p = folderPlan(smoke);
  const keys = folderTorchKeys(folderModelName(config.hiddenSize, config.numLayers), p);
  const cfg = {
    hidden: config.hiddenSize,
    intermediate: config.intermediateSize,
    layers: config.numLayers,
    heads: config.numHeads,
    kv_heads: config.numKvHeads,
    head_dim: config.headDim,
    vocab: config.vocabSize + ADDED_TOKENS,
  };
  return [
    { key: keys.embed, op: 'embed', dtype: 'fp16', B: p.embed[1], T: p.embed[0], ...cfg },
    { key: keys.train, op: 'train_lora', dtype: 'bf16', B: p.train[1], T: p.train[0], ...cfg, ...p.lora },
  ];
}

function readReference(file: string): FolderReference {
  const r = JSON.parse(readFileSync(file, 'utf8')) as FolderReference;
  if (!Array.isArray(r.ids) || typeof r.hidden !== 'object')
    throw new Error(`${file} was not written by torch_7b_reference.py (no "ids" or "hidden").`);
  return r;
}

/** Min row cosine of our final hidden states for the reference's rows against its `format` rows. */
async function checkAgainst(
  gpu: Gpu,
  model: LlamaModel,
  ref: FolderReference,
  format: BaseFormat,
): Promise<number | null> {
  const want = ref.hidden[format];
  if (!want) return null;
  const { batch, seq } = ref;
  const dev = model.upload({
    ids: Int32Array.from(ref.ids),
    positions: Int32Array.from({ length: batch * seq }, (_, i) => i % seq),
    mask: paddedCausalMask(seq, new Array(batch).fill(seq), 'right'),
  });
  const hidden = model.forward(dev);
  const got = (await gpu.read(hidden)) as Float32Array;
  hidden.release();
  dev.release();
  const H = model.shape.hiddenSize;
  let min = 1;
  for (let i = 0; i < batch * seq; i++) {
    const c = cosine(got.subarray(i * H, (i + 1) * H), want.slice(i * H, (i + 1) * H));
    if (!(c >= min)) min = c;
  }
  return min;
}

export async function benchModelFolder(
  gpu: Gpu,
  o: ModelFolderBenchOptions,
): Promise<{ rows: BenchRow[]; failures: Failure[] }> {
  const log = o.log ?? (() => {});
  const smoke = o.smoke ?? false;
  const deadline = performance.now() + (o.budgetMs ?? 540_000);
  const rows: BenchRow[] = [];
  const failures: Failure[] = [];
  const emit = (r: BenchRow | Failure) => {
    if ('ms' in r) rows.push(r);
    else failures.push(r);
    o.onResult?.(r);
  };
  const opened = await openModelFolder(o.dir, { tokenizer: false });
  const config = opened.config;
  const plan = folderPlan(smoke);
  const name = folderModelName(config.hiddenSize, config.numLayers);
  const twins = folderTorchKeys(name, plan);
  const [eT, eB] = plan.embed;
  const [tT, tB] = plan.train;
  let ref: FolderReference | null = null;
  let refNote = 'no PyTorch reference given: not checked';
  if (o.ref) {
    try {
      ref = readReference(o.ref);
    } catch (e) {
      refNote = `the PyTorch reference could not be read (${errorMessage(e)}): not checked`;
    }
  }
  const device = gpu.caps.adapter.device || gpu.caps.adapter.description || 'unknown';
  const peaks = devicePeaks(device);
  const roofline: Roofline = gpu.has('subgroup-matrix') ? 'fp16-tensor' : 'fp32';
  const layerParams = layerParameters(config);
  const tok = wordTokenizer(config.vocabSize);
  const timing = smoke
    ? { warmup: 1, maxIterations: 2, targetMs: 2_000 }
    : { warmup: 1, maxIterations: 3, targetMs: 15_000 };
  /** Seconds the last format took from loading to its last row: the next one must fit what is left. */
  let lastFormatMs = 0;

  for (const format of o.formats ?? FOLDER_FORMATS) {
    const keys = [
      folderEmbedKey(name, eB, eT, format),
      ...(format === 'nf4' ? [folderTrainKey(name, tB, tT, format)] : []),
    ];
    const left = deadline - performance.now();
    if (left < lastFormatMs || left <= 0) {
      for (const key of keys)
        emit({
          suite: 'model',
          key,
          error: `skipped: the folder suite's time budget would be exceeded (the last format took ${(lastFormatMs / 1000).toFixed(0)} s, ${(Math.max(0, left) / 1000).toFixed(0)} s left)`,
        });
      continue;
    }
    const t0 = performance.now();
    let model: LlamaModel;
    // Quantizing on every core, as `llara --quantize` does.
    const pool = format === 'f16' ? null : createQuantizePool();
    try {
      model = await uploadModel(gpu, config, opened.checkpoint, {
        addedTokens: ADDED_TOKENS,
        ...(format === 'f16' || !pool ? {} : { quantize: format, quantizeTensor: pool.quantize }),
      });
      await gpu.sync();
    } catch (e) {
      for (const key of keys)
        emit({ suite: 'model', key, error: `loading ${o.dir} as ${format} failed: ${errorMessage(e)}` });
      continue;
    } finally {
      await pool?.close();
    }
    const loadS = (performance.now() - t0) / 1000;
    log(`${name} ${format}: loaded in ${loadS.toFixed(1)} s`);
    try {
      const weightsBytes = weightTensors(model.weights).reduce((s, t) => s + t.byteLength, 0);
      let checkNote = refNote;
      if (ref) {
        const min = await checkAgainst(gpu, model, ref, format);
        if (min === null) checkNote = `the reference has no ${format} rows: not checked`;
        else {
          const ok = min >= MIN_FOLDER_COSINE[format];
          checkNote = `min row cosine ${min.toFixed(6)} to ${ref.reference} ${format} (needs >= ${MIN_FOLDER_COSINE[format]})`;
          log(`${name} ${format}: ${checkNote}`);
          if (!ok) {
            for (const key of keys) emit({ suite: 'model', key, error: `check failed: ${checkNote}` });
            continue;
          }
        }
      }
      const row = (r: Omit<Parameters<typeof modelRow>[0], 'dtype' | 'roofline' | 'peaks'>): BenchRow =>
        modelRow({ ...r, dtype: `${format}w`, roofline, peaks });

      const ekey = keys[0];
      try {
        const { embedder, items } = fixedLengthPassages(model, config.vocabSize, eB, eT);
        let t = { ms: 0, samples: [] as number[] };
        const memory = await measureMemory(
          gpu,
          weightsBytes,
          { trainableBytes: 0, optimizerBytes: 0 },
          async () => {
            t = await timeWall(() => embedder.embed(items, 'passage'), timing);
          },
        );
        const r = row({
          name: 'embed_folder',
          key: ekey,
          variant: `flag passages from the folder's ${format === 'f16' ? 'f16 weights' : `${format}-quantized base`}`,
          B: eB,
          T: eT,
          t,
          flops: 2 * layerParams * eB * eT + attentionFlops(config, eB, eT),
          memory,
          torch: [twins.embed],
          note: `${(eB / (t.ms / 1000)).toFixed(1)} documents/s; loaded in ${loadS.toFixed(1)} s; ${checkNote}`,
        });
        emit(r);
        log(`${ekey}: ${r.tokensPerS?.toFixed(0)} tokens/s`);
      } catch (e) {
        emit({ suite: 'model', key: ekey, error: errorMessage(e) });
      }

      if (format === 'nf4') {
        const tkey = keys[1];
        let trainer: Pretrainer | null = null;
        try {
          const paramBytes = attachLora(gpu, model, config, plan.lora, 7);
          model.checkpointing = true;
          trainer = benchPretrainer(model, tok, config, { B: tB, T: tT, rows: 32 });
          const { t, memory } = await measureTrainSteps(gpu, weightsBytes, trainer, paramBytes, timing);
          const rr = row({
            name: 'train_qlora',
            key: tkey,
            variant: `QLoRA pretext step: frozen nf4 base, f32 LoRA r=${plan.lora.r} on 7 projections, checkpointing, AdamW`,
            B: tB,
            T: tT,
            t,
            flops: 3 * (2 * layerParams * tB * tT + attentionFlops(config, tB, tT)),
            memory,
            torch: [twins.train],
            note: `peak device memory ${formatBytes(memory.totalBytes)} (weights + LoRA + AdamW + pool); loaded in ${loadS.toFixed(1)} s; ${checkNote}`,
          });
          emit(rr);
          log(`${tkey}: ${rr.ms.toFixed(0)} ms per step, ${formatBytes(memory.totalBytes)}`);
        } catch (e) {
          emit({ suite: 'model', key: tkey, error: errorMessage(e) });
        } finally {
          trainer?.destroy();
          model.lora?.destroy();
          model.lora = null;
        }
      }
    } finally {
      model.destroy();
      gpu.pool.trim();
      lastFormatMs = performance.now() - t0;
    }
  }
  return { rows, failures };
}
