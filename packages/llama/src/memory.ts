/**
 * How much GPU memory a model needs for a job, estimated before allocating anything, so that a model
 * too large for the device is refused with one sentence instead of an out-of-memory error mid-run.
 * WebGPU does not report a device's memory, so the budget comes from the caller (a flag, or a known
 * device); the per-buffer limits come from the adapter.
 *
 * The estimate is deliberately simple and errs high: f32 activations (attention is flash-style, so no
 * [B, heads, T, T] scores exist, only a log-sum-exp per row and head), and in training either the
 * per-layer inputs (activation checkpointing) or everything each layer keeps for backward. The
 * vocabulary-sized weights are split by rows when they exceed a binding, so only activations can be
 * too large for one.
 *
 * @example
 * const est = estimateMemory(LLAMA2_7B_CONFIG, { weightDtype: 'f16', batch: 8, seqLen: 512, mode: 'forward' });
 * checkFits(est, { maxBufferSize: limits.maxBufferSize, maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize, memoryBytes: 80e9 });
 */
import { formatBytes, isQuantFormat, type QuantFormat, tensorByteLength } from '@llara/gpu';
import { type LlamaConfig, parameterCount } from './config.ts';
import { LORA_TARGETS, type LoraTarget, loraDims } from './peft.ts';
import { expectedTensors } from './safetensors.ts';

export interface MemoryOptions {
  /** The matrices' storage; with q8/q4/nf4 the norms are f32 (docs/quantization.md). */
  weightDtype: 'f32' | 'f16' | 'bf16' | QuantFormat;
  batch: number;
  seqLen: number;
  mode: 'forward' | 'train';
  /** LoRA rank for training (0: no adapter). */
  loraR?: number;
  loraTargets?: readonly LoraTarget[];
  /** Keep only each layer's input and recompute the rest in backward (default true when training). */
  activationCheckpointing?: boolean;
  /** Token rows whose logits are computed (default: none in forward, every token in training). */
  logitRows?: number;
}

export interface MemoryEstimate {
  weights: number;
  /** LoRA parameters, their gradients and AdamW's two moments. */
  adapter: number;
  /** Activations kept or in flight, logits included. */
  activations: number;
  /** Allocator slack: 5% plus 64 MiB. */
  overhead: number;
  total: number;
  /** The largest single buffer that cannot be split by rows, and what it holds. */
  largestBuffer: number;
  largestBufferName: string;
  /** What was estimated, for messages ("LLaMA 32 x 4096, f16 weights, train batch 8 x 512"). */
  description: string;
  weightDtype: MemoryOptions['weightDtype'];
}

export interface GpuMemoryLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  /** The memory the job may use; unknown (skipped) when absent. */
  memoryBytes?: number;
}

const F32 = 4;

/** Estimates the GPU bytes `config` needs for a forward or a LoRA training step of (batch, seqLen). */
export function estimateMemory(config: LlamaConfig, options: MemoryOptions): MemoryEstimate {
  const { batch, seqLen, mode } = options;
  const n = batch * seqLen;
  const h = config.hiddenSize;
  const qDim = config.numHeads * config.headDim;
  const kvDim = config.numKvHeads * config.headDim;
  const inter = config.intermediateSize;
  const weights = weightBytes(config, options.weightDtype);

  const r = mode === 'train' ? (options.loraR ?? 0) : 0;
  const targets = options.loraTargets ?? LORA_TARGETS;
  let loraParams = 0;
  for (const t of targets) {
    const { inDim, outDim } = loraDims(config, t);
    loraParams += r * (inDim + outDim);
  }
  loraParams *= config.numLayers;
  const adapter = loraParams * F32 * 4;

  // One layer's transient values: normed input, q, k, v, attention output, gate, up, activation, the
  // residual stream, plus the LoRA intermediates x A^T.
  const perLayerValues = n * (3 * h + 2 * qDim + 2 * kvDim + 3 * inter) + n * r * targets.length;
  const rowStats = n * config.numHeads * 2 * F32; // attention's log-sum-exp and backward row terms
  const layerWorkingSet = perLayerValues * F32 + rowStats;
  const logitRows = options.logitRows ?? (mode === 'train' ? n : 0);
  const logits = logitRows * config.vocabSize * F32;

  let activations: number;
  if (mode === 'forward') {
    activations = layerWorkingSet + 2 * n * h * F32 + logits;
  } else {
    const checkpointing = options.activationCheckpointing ?? true;
    const kept = checkpointing ? config.numLayers * n * h * F32 : config.numLayers * perLayerValues * F32;
    // Backward holds one recomputed layer plus its gradients, and logits with their gradient.
    activations = kept + 2 * layerWorkingSet + 2 * logits;
  }
  const subtotal = weights + adapter + activations;
  const overhead = Math.ceil(subtotal * 0.05) + 64 * 1024 * 1024;

  const candidates: Array<[string, number]> = [
    ['the hidden states', n * Math.max(h, qDim) * F32],
    ['the logits', logits],
    ['the MLP activations', n * inter * F32],
  ];
  const [largestBufferName, largestBuffer] = candidates.reduce((a, b) => (b[1] > a[1] ? b : a));
  const description =
    `a LLaMA model of ${config.numLayers} layers x ${h} with ${options.weightDtype} weights, ` +
    `${mode === 'train' ? `training${r > 0 ? ` LoRA r ${r}` : ''}` : 'forward'} on batch ${batch} x ${seqLen} tokens`;
  return {
    weights,
    adapter,
    activations,
    overhead,
    total: subtotal + overhead,
    largestBuffer,
    largestBufferName,
    description,
    weightDtype: options.weightDtype,
  };
}

/** Device bytes of the base weights stored as `dtype` (quantized: blocked matrices, f32 norms). */
export function weightBytes(config: LlamaConfig, dtype: MemoryOptions['weightDtype']): number {
  if (!isQuantFormat(dtype)) return parameterCount(config) * (dtype === 'f32' ? 4 : 2);
  let bytes = 0;
  for (const shape of expectedTensors(config).values())
    bytes += shape.length === 2 ? tensorByteLength(dtype, shape) : shape[0] * 4;
  return bytes;
}

/** Throws one sentence saying what does not fit (memory budget, or the largest unsplittable buffer). */
export function checkFits(estimate: MemoryEstimate, limits: GpuMemoryLimits): void {
  const e = estimate;
  if (limits.memoryBytes !== undefined && e.total > limits.memoryBytes)
    throw new Error(
      `${capitalise(e.description)} needs about ${formatBytes(e.total)} of GPU memory (weights ${formatBytes(e.weights)}, ` +
        `activations ${formatBytes(e.activations)}, adapter and optimizer ${formatBytes(e.adapter)}) but only ` +
        `${formatBytes(limits.memoryBytes)} is available: lower --batch or --max-len${e.weightDtype === 'f32' ? ', or use f16 weights' : e.weightDtype === 'f16' || e.weightDtype === 'bf16' ? ', or quantize the base (--quantize nf4)' : ''}.`,
    );
  const perBuffer = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  if (e.largestBuffer > perBuffer)
    throw new Error(
      `${capitalise(e.description)} needs one buffer of ${formatBytes(e.largestBuffer)} for ${e.largestBufferName} ` +
        `but this device allows ${formatBytes(perBuffer)} per buffer binding: lower --batch or --max-len.`,
    );
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
