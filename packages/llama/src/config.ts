/**
 * A LLaMA checkpoint's `config.json` (Hugging Face transformers), parsed into the few numbers the runner
 * uses. Settings the runner does not implement (other architectures, RoPE scaling, biases, other
 * activations) are refused by name rather than silently ignored: a wrong answer is worse than none.
 *
 * Both transformers 4.x (`rope_theta`, `rope_scaling`, `torch_dtype`) and 5.x (`rope_parameters:
 * {rope_theta, rope_type}`, `dtype`) spellings are understood.
 *
 * @example
 * const config = parseLlamaConfig(JSON.parse(text), 'models/stories260K/config.json');
 * config.headDim; // 8
 */
import { isQuantFormat, QUANT_BLOCK, type QuantFormat } from '@llara/gpu';

export type TorchDType = 'float32' | 'float16' | 'bfloat16';

export interface LlamaConfig {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** Per-head dimension; `hidden_size / num_attention_heads` unless `head_dim` says otherwise. */
  headDim: number;
  rmsNormEps: number;
  vocabSize: number;
  tieWordEmbeddings: boolean;
  ropeTheta: number;
  maxPositionEmbeddings: number;
  bosTokenId: number;
  /** The first end-of-sequence id (`eos_token_id` may be a list; all of them are in `eosTokenIds`). */
  eosTokenId: number;
  eosTokenIds: number[];
  padTokenId: number | null;
  /** The dtype the checkpoint was saved in, as config.json states it (null when absent). */
  torchDtype: TorchDType | null;
  /**
   * Set when the folder holds block-quantized weights written by `llara export --quantize`
   * (config.json's `quantization` block; docs/quantization.md): loaded as they are, never re-quantized.
   */
  quantization?: QuantFormat;
}

/** The `layout` name config.json's `quantization` block carries for docs/quantization.md's layout. */
export const QUANT_LAYOUT = 'llara-rows-v1';

function quantizationField(c: Json, file: string): QuantFormat | undefined {
  const q = c.quantization;
  if (q === undefined || q === null) return undefined;
  if (typeof q !== 'object' || Array.isArray(q)) fail(file, '"quantization" must be an object');
  const { format, block_size: block, layout } = q as Json;
  if (!isQuantFormat(format))
    fail(file, `"quantization.format" is ${JSON.stringify(format)} but only q8, q4 and nf4 are supported`);
  if (block !== QUANT_BLOCK[format])
    fail(
      file,
      `"quantization.block_size" is ${JSON.stringify(block)} but ${format} uses blocks of ${QUANT_BLOCK[format]}`,
    );
  if (layout !== QUANT_LAYOUT)
    fail(file, `"quantization.layout" is ${JSON.stringify(layout)} but only "${QUANT_LAYOUT}" is supported`);
  return format;
}

type Json = Record<string, unknown>;

function fail(file: string, message: string): never {
  throw new Error(`${file}: ${message}.`);
}

function intField(json: Json, file: string, key: string, fallback?: number): number {
  const v = json[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    fail(file, `the required field "${key}" is missing`);
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
    fail(file, `"${key}" must be a positive integer but is ${JSON.stringify(v)}`);
  return v;
}

function numberField(json: Json, file: string, key: string, fallback: number): number {
  const v = json[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    fail(file, `"${key}" must be a positive number but is ${JSON.stringify(v)}`);
  return v;
}

function tokenIds(json: Json, file: string, key: string, fallback: number): number[] {
  const v = json[key];
  if (v === undefined || v === null) return [fallback];
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0 || !list.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0))
    fail(file, `"${key}" must be a token id or a list of token ids but is ${JSON.stringify(v)}`);
  return list as number[];
}

/** The RoPE type a rope dict names (`rope_type` in 4.36+, `type` before), or null for "none". */
function ropeTypeOf(rope: unknown, file: string, key: string): string | null {
  if (rope === undefined || rope === null) return null;
  if (typeof rope !== 'object' || Array.isArray(rope)) fail(file, `"${key}" must be an object or null`);
  const r = rope as Json;
  const t = r.rope_type ?? r.type ?? null;
  if (t !== null && typeof t !== 'string') fail(file, `"${key}.rope_type" must be a string`);
  return t as string | null;
}

/** Parses and checks an HF LLaMA `config.json` object; `file` names it in error messages. */
export function parseLlamaConfig(json: unknown, file = 'config.json'): LlamaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(file, 'is not a JSON object');
  const c = json as Json;

  const modelType = c.model_type;
  if (modelType !== 'llama')
    fail(
      file,
      `"model_type" is ${JSON.stringify(modelType ?? null)} but only "llama" is supported (other families differ in ways this runner does not implement)`,
    );
  const act = c.hidden_act ?? c.hidden_activation ?? 'silu';
  if (act !== 'silu') fail(file, `"hidden_act" is ${JSON.stringify(act)} but only "silu" is supported`);
  if (c.attention_bias === true)
    fail(file, '"attention_bias" is true but biased projections are not supported');
  if (c.mlp_bias === true) fail(file, '"mlp_bias" is true but biased MLP projections are not supported');

  // RoPE: transformers 5.x keeps theta and type together in rope_parameters; 4.x has rope_theta plus an
  // optional rope_scaling dict. Any type other than the default (linear, dynamic, yarn, llama3, ...)
  // changes the frequencies and is refused.
  let ropeTheta: number;
  const params = c.rope_parameters;
  if (params !== undefined && params !== null) {
    const type = ropeTypeOf(params, file, 'rope_parameters');
    if (type !== null && type !== 'default')
      fail(file, `"rope_parameters.rope_type" is "${type}" but only "default" RoPE is supported`);
    const theta = (params as Json).rope_theta;
    if (theta !== undefined && (typeof theta !== 'number' || !(theta > 0)))
      fail(file, `"rope_parameters.rope_theta" must be a positive number but is ${JSON.stringify(theta)}`);
    ropeTheta = (theta as number | undefined) ?? numberField(c, file, 'rope_theta', 10000);
  } else {
    ropeTheta = numberField(c, file, 'rope_theta', 10000);
  }
  const scalingType = ropeTypeOf(c.rope_scaling, file, 'rope_scaling');
  if (c.rope_scaling != null && scalingType !== 'default')
    fail(
      file,
      `"rope_scaling" type ${JSON.stringify(scalingType)} is not supported (only null or "default" RoPE)`,
    );

  const hiddenSize = intField(c, file, 'hidden_size');
  const numHeads = intField(c, file, 'num_attention_heads');
  const numKvHeads = intField(c, file, 'num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0)
    fail(
      file,
      `"num_attention_heads" (${numHeads}) is not a multiple of "num_key_value_heads" (${numKvHeads})`,
    );
  let headDim: number;
  if (c.head_dim === undefined || c.head_dim === null) {
    if (hiddenSize % numHeads !== 0)
      fail(
        file,
        `"hidden_size" (${hiddenSize}) is not divisible by "num_attention_heads" (${numHeads}) and "head_dim" is absent`,
      );
    headDim = hiddenSize / numHeads;
  } else {
    headDim = intField(c, file, 'head_dim');
  }
  if (headDim % 2 !== 0) fail(file, `"head_dim" (${headDim}) must be even for rotary embeddings`);

  const tie = c.tie_word_embeddings ?? false;
  if (typeof tie !== 'boolean') fail(file, '"tie_word_embeddings" must be true or false');

  const dtypeRaw = c.dtype ?? c.torch_dtype ?? null;
  let torchDtype: TorchDType | null = null;
  if (dtypeRaw !== null) {
    const d = String(dtypeRaw).replace(/^torch\./, '');
    if (d === 'float32' || d === 'float16' || d === 'bfloat16') torchDtype = d;
    else
      fail(
        file,
        `"torch_dtype" is ${JSON.stringify(dtypeRaw)} but only float32, float16 and bfloat16 are supported`,
      );
  }

  const quantization = quantizationField(c, file);
  const eos = tokenIds(c, file, 'eos_token_id', 2);
  const pad = c.pad_token_id ?? null;
  if (pad !== null && (typeof pad !== 'number' || !Number.isInteger(pad) || pad < 0))
    fail(file, `"pad_token_id" must be a token id or null but is ${JSON.stringify(pad)}`);

  return {
    hiddenSize,
    intermediateSize: intField(c, file, 'intermediate_size'),
    numLayers: intField(c, file, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: numberField(c, file, 'rms_norm_eps', 1e-6),
    vocabSize: intField(c, file, 'vocab_size'),
    tieWordEmbeddings: tie,
    ropeTheta,
    maxPositionEmbeddings: intField(c, file, 'max_position_embeddings', 2048),
    bosTokenId: tokenIds(c, file, 'bos_token_id', 1)[0],
    eosTokenId: eos[0],
    eosTokenIds: eos,
    padTokenId: pad as number | null,
    torchDtype,
    ...(quantization ? { quantization } : {}),
  };
}

/** The inverse of `parseLlamaConfig`: an HF config.json object (transformers 4.x spelling). */
export function llamaConfigToJson(config: LlamaConfig): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    attention_bias: false,
    mlp_bias: false,
    hidden_act: 'silu',
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKvHeads,
    head_dim: config.headDim,
    rms_norm_eps: config.rmsNormEps,
    vocab_size: config.vocabSize,
    tie_word_embeddings: config.tieWordEmbeddings,
    rope_theta: config.ropeTheta,
    rope_scaling: null,
    max_position_embeddings: config.maxPositionEmbeddings,
    bos_token_id: config.bosTokenId,
    eos_token_id: config.eosTokenIds.length === 1 ? config.eosTokenId : config.eosTokenIds,
    pad_token_id: config.padTokenId,
    torch_dtype: config.torchDtype ?? 'float32',
    ...(config.quantization
      ? {
          quantization: {
            format: config.quantization,
            block_size: QUANT_BLOCK[config.quantization],
            layout: QUANT_LAYOUT,
          },
        }
      : {}),
  };
}

/** Number of parameters (weights only), tied head counted once. */
export function parameterCount(config: LlamaConfig): number {
  const h = config.hiddenSize;
  const q = config.numHeads * config.headDim;
  const kv = config.numKvHeads * config.headDim;
  const perLayer = h * q + 2 * h * kv + q * h + 3 * h * config.intermediateSize + 2 * h;
  const head = config.tieWordEmbeddings ? 0 : config.vocabSize * h;
  return config.vocabSize * h + config.numLayers * perLayer + h + head;
}
