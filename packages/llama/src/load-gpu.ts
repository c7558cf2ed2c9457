/**
 * Checkpoint -> device: streams the weights tensor by tensor (so a 13 GB model never sits in RAM at
 * once), keeps their dtype (f32, f16 or bf16), appends mean-initialised rows for added tokens, and
 * checks the whole model fits the device before allocating anything.
 *
 * ```ts
 * const opened = await openModelFolder('data/models/stories260K');
 * const model = await uploadModel(gpu, opened.config, opened.checkpoint, { addedTokens: 16 });
 * ```
 */
import { type DType, type Gpu, GpuLimitError, type Tensor, toBf16Array, toF16Array } from '@llara/gpu';
import { appendMeanRows } from './added-tokens.ts';
import type { LlamaConfig } from './config.ts';
import { checkFits, estimateMemory } from './memory.ts';
import { LlamaModel } from './model.ts';
import { type RowSplit, uploadRowSplit } from './row-split.ts';
import { numElements, type RawTensor, tensorToFloat32, tensorToHost } from './safetensors.ts';
import type { LlamaShape } from './shape.ts';
import type { LoadProgress, TensorSource } from './sharded.ts';
import { LAYER_TENSORS, type LayerWeights, type LlamaWeights } from './weights-gpu.ts';

export interface UploadOptions {
  /** Rows appended to the embedding (and an untied LM head), each the mean of the existing rows. */
  addedTokens?: number;
  onProgress?: (p: LoadProgress) => void;
  /** Skip the memory estimate (tests with hand-made limits). */
  skipMemoryCheck?: boolean;
}

export function shapeOf(config: LlamaConfig, addedTokens = 0): LlamaShape {
  return {
    hiddenSize: config.hiddenSize,
    intermediateSize: config.intermediateSize,
    numLayers: config.numLayers,
    numHeads: config.numHeads,
    numKvHeads: config.numKvHeads,
    headDim: config.headDim,
    rmsNormEps: config.rmsNormEps,
    ropeTheta: config.ropeTheta,
    vocabSize: config.vocabSize + addedTokens,
  };
}

export async function uploadModel(
  gpu: Gpu,
  config: LlamaConfig,
  source: TensorSource,
  opts: UploadOptions = {},
): Promise<LlamaModel> {
  const added = opts.addedTokens ?? 0;
  const dtype = source.infos.get('model.embed_tokens.weight')?.dtype ?? 'F32';
  if (!opts.skipMemoryCheck) {
    const est = estimateMemory(config, {
      weightDtype: dtype === 'F16' ? 'f16' : dtype === 'BF16' ? 'bf16' : 'f32',
      batch: 1,
      seqLen: Math.min(512, config.maxPositionEmbeddings),
      mode: 'forward',
    });
    try {
      checkFits(est, {
        maxBufferSize: gpu.limits.maxBufferSize,
        maxStorageBufferBindingSize: gpu.limits.maxStorageBufferBindingSize,
      });
    } catch (e) {
      throw new GpuLimitError((e as Error).message);
    }
  }
  const uploaded: Tensor[] = [];
  const total = source.totalBytes;
  let loaded = 0;
  let index = 0;
  const count = source.names.length;
  const read = async (name: string) => {
    const raw = await source.read(name);
    loaded += raw.data.byteLength;
    opts.onProgress?.({ tensor: name, index: index++, count, loadedBytes: loaded, totalBytes: total });
    return raw;
  };
  const load = async (name: string): Promise<Tensor> => {
    const { dtype, shape, data } = hostTensor(name, await read(name), 0);
    const t = gpu.tensor(dtype, shape, data, { label: name, pooled: false });
    uploaded.push(t);
    return t;
  };
  // The vocabulary-sized weights may exceed one storage binding: they are split by rows.
  const loadRows = async (name: string): Promise<RowSplit> => {
    const { dtype, shape, data } = hostTensor(name, await read(name), added);
    const split = uploadRowSplit(gpu, name, dtype, shape, data);
    uploaded.push(...split.parts.map((p) => p.tensor));
    return split;
  };
  try {
    const embed = await loadRows('model.embed_tokens.weight');
    const layers: LayerWeights[] = [];
    for (let l = 0; l < config.numLayers; l++) {
      const entry = {} as LayerWeights;
      for (const [key, suffix] of Object.entries(LAYER_TENSORS) as [keyof LayerWeights, string][]) {
        entry[key] = await load(`model.layers.${l}.${suffix}`);
      }
      layers.push(entry);
    }
    const norm = await load('model.norm.weight');
    const lmHead = config.tieWordEmbeddings ? embed : await loadRows('lm_head.weight');
    await gpu.checkErrors();
    const weights: LlamaWeights = { embed, layers, norm, lmHead };
    return new LlamaModel(gpu, shapeOf(config, added), weights);
  } catch (e) {
    for (const t of uploaded) t.release();
    throw e;
  }
}

/** A checkpoint tensor as device-ready host data, with `appendRows` mean rows added (added tokens). */
function hostTensor(
  name: string,
  raw: RawTensor,
  appendRows: number,
): { dtype: DType; shape: readonly number[]; data: Float32Array | Uint16Array } {
  let { dtype, data } = tensorToHost(raw, `tensor ${name}`) as {
    dtype: DType;
    data: Float32Array | Uint16Array;
  };
  let shape = raw.shape;
  if (appendRows > 0) {
    const [rows, cols] = raw.shape;
    const extended = appendMeanRows(tensorToFloat32(raw, `tensor ${name}`), rows, cols, appendRows);
    const tail = extended.subarray(rows * cols);
    shape = [rows + appendRows, cols];
    if (dtype === 'f32') data = extended;
    else {
      const bits = new Uint16Array(shape[0] * cols);
      bits.set(data as Uint16Array);
      bits.set(dtype === 'f16' ? toF16Array(tail) : toBf16Array(tail), rows * cols);
      data = bits;
    }
  }
  if (numElements(shape) * (dtype === 'f32' ? 4 : 2) !== data.byteLength) {
    throw new Error(`tensor ${name} has ${data.byteLength} bytes, which does not match its shape [${shape}]`);
  }
  return { dtype, shape, data };
}
