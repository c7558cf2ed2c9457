/**
 * Checkpoint -> device: streams the weights tensor by tensor (so a 13 GB model never sits in RAM at
 * once), keeps their dtype (f32, f16 or bf16), appends mean-initialised rows for added tokens, and
 * checks the whole model fits the device before allocating anything. With `quantize` the matrices are
 * block-quantized tensor by tensor as they arrive (docs/quantization.md).
 *
 * ```ts
 * const opened = await openModelFolder('data/models/stories260K');
 * const model = await uploadModel(gpu, opened.config, opened.checkpoint, { addedTokens: 16 });
 * ```
 */
import {
  type DType,
  type Gpu,
  GpuLimitError,
  type QuantFormat,
  type Tensor,
  toBf16Array,
  toF16Array,
} from '@llara/gpu';
import { dequantizeMatrix } from '@llara/kernels';
import { appendMeanRows } from './added-tokens.ts';
import type { LlamaConfig } from './config.ts';
import { checkFits, estimateMemory } from './memory.ts';
import { LlamaModel } from './model.ts';
import { quantizedWords, quantizeRawTensor } from './quantize-tensor.ts';
import { RowSplit, uploadRowSplit } from './row-split.ts';
import {
  expectedTensors,
  numElements,
  type RawTensor,
  tensorToFloat32,
  tensorToHost,
} from './safetensors.ts';
import type { LlamaShape } from './shape.ts';
import type { LoadProgress, TensorSource } from './sharded.ts';
import { LAYER_TENSORS, type LayerWeights, type LlamaWeights } from './weights-gpu.ts';

export interface UploadOptions {
  /** Rows appended to the embedding (and an untied LM head), each the mean of the existing rows. */
  addedTokens?: number;
  onProgress?: (p: LoadProgress) => void;
  /** Skip the memory estimate (tests with hand-made limits). */
  skipMemoryCheck?: boolean;
  /**
   * Block-quantize the matrices (projections, embedding, LM head) as they stream in
   * (docs/quantization.md); RMSNorm weights and added-token rows are kept in f32. A folder whose
   * config.json already says it is quantized is loaded as stored and refuses this option.
   */
  quantize?: QuantFormat;
  /**
   * How a matrix is quantized (default: `quantizeRawTensor` on this thread). In Node,
   * `createQuantizePool().quantize` from @llara/llama/node spreads each matrix's rows over every core
   * (the same bits).
   */
  quantizeTensor?: (raw: RawTensor, format: QuantFormat, what: string) => Promise<Uint32Array> | Uint32Array;
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
  if (opts.quantize && config.quantization)
    throw new Error(
      `This model is already ${config.quantization}-quantized; load it as it is, without asking to quantize it to ${opts.quantize}.`,
    );
  // Matrices stored quantized on the device: by request, or as the folder holds them.
  const quant = opts.quantize ?? config.quantization;
  if (!opts.skipMemoryCheck) {
    const est = estimateMemory(config, {
      weightDtype: quant ?? (dtype === 'F16' ? 'f16' : dtype === 'BF16' ? 'bf16' : 'f32'),
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
  /** A matrix's quantized words: quantized now from F32/F16/BF16, or as a quantized folder stores them. */
  async function quantWords(raw: RawTensor, format: QuantFormat, name: string): Promise<Uint32Array> {
    if (raw.dtype === 'U32') return quantizedWords(raw, `tensor ${name}`);
    return (opts.quantizeTensor ?? quantizeRawTensor)(raw, format, `tensor ${name}`);
  }
  const uploaded: Tensor[] = [];
  const total = source.totalBytes;
  let loaded = 0;
  let index = 0;
  const count = source.names.length;
  // While a matrix is quantized, the next tensor is already being read (file reads run off the main
  // thread): at most one tensor ahead, so the checkpoint is still never held at once.
  const order = [
    'model.embed_tokens.weight',
    ...Array.from({ length: config.numLayers }, (_, l) =>
      Object.values(LAYER_TENSORS).map((suffix) => `model.layers.${l}.${suffix}`),
    ).flat(),
    'model.norm.weight',
    ...(config.tieWordEmbeddings ? [] : ['lm_head.weight']),
  ];
  const ahead = new Map<string, Promise<RawTensor>>();
  const fetchRaw = (name: string): Promise<RawTensor> => {
    let p = ahead.get(name);
    if (!p) {
      p = source.read(name);
      // A read ahead that fails is reported when its tensor is awaited, not as an unhandled rejection.
      p.catch(() => {});
      ahead.set(name, p);
    }
    return p;
  };
  const read = async (name: string) => {
    const i = order.indexOf(name);
    const next = i >= 0 ? order[i + 1] : undefined;
    if (quant && next !== undefined) fetchRaw(next);
    const raw = await fetchRaw(name);
    ahead.delete(name);
    loaded += raw.data.byteLength;
    opts.onProgress?.({ tensor: name, index: index++, count, loadedBytes: loaded, totalBytes: total });
    return raw;
  };
  const logical = expectedTensors(config);
  const load = async (name: string): Promise<Tensor> => {
    const raw = await read(name);
    let t: Tensor;
    if (quant && raw.shape.length === 1) {
      // Norm weights stay f32 beside quantized matrices.
      t = gpu.tensor('f32', raw.shape, tensorToFloat32(raw, `tensor ${name}`), {
        label: name,
        pooled: false,
      });
    } else if (quant) {
      const shape = logical.get(name) ?? raw.shape;
      t = gpu.tensor(quant, shape, await quantWords(raw, quant, name), { label: name, pooled: false });
    } else {
      const { dtype, shape, data } = hostTensor(name, raw, 0);
      t = gpu.tensor(dtype, shape, data, { label: name, pooled: false });
    }
    uploaded.push(t);
    return t;
  };
  // The vocabulary-sized weights may exceed one storage binding: they are split by rows.
  const loadRows = async (name: string): Promise<RowSplit> => {
    const raw = await read(name);
    if (!quant) {
      const { dtype, shape, data } = hostTensor(name, raw, added);
      const split = uploadRowSplit(gpu, name, dtype, shape, data);
      uploaded.push(...split.parts.map((p) => p.tensor));
      return split;
    }
    const [rows, cols] = logical.get(name) ?? raw.shape;
    const words = await quantWords(raw, quant, name);
    const split = uploadRowSplit(gpu, name, quant, [rows, cols], words);
    uploaded.push(...split.parts.map((p) => p.tensor));
    if (added === 0) return split;
    // Added-token rows stay f32, as a last part of the split: the mean of the rows as quantized, so a
    // folder quantized by `llara export --quantize` loads to exactly the model quantizing on load gives.
    const values = dequantizeMatrix(quant, words, rows, cols);
    const tail = appendMeanRows(values, rows, cols, added).subarray(rows * cols);
    const extra = gpu.tensor('f32', [added, cols], tail, { label: `${name}[added]`, pooled: false });
    uploaded.push(extra);
    return new RowSplit([...split.parts, { tensor: extra, row0: rows, rows: added }], cols);
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
