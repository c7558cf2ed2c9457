/**
 * Folding a LoRA adapter into its base weights, W' = W + scale * B A for every adapted projection,
 * so the model runs without an adapter (any HF loader, any runtime). Each merged tensor is computed on
 * demand on the CPU: B A is accumulated in f64 per output row and added to W once, rounded to f32 once.
 * Nothing but the tensor being produced is in memory, so a 7B merge needs one weight at a time.
 *
 * Added vocabulary (LLaRA `flag`'s `<s1>`..`<s16>` when the base model lacks them) is materialised as
 * the rows the GPU loader appends (`appendMeanRows`), or taken whole from the adapter's
 * `modules_to_save` when it trained them.
 *
 * @example
 * const merged = mergeModel(opened.config, opened.checkpoint, { lora, addedTokens: 16 });
 * for (const name of merged.names) save(name, merged.shapes.get(name)!, await merged.read(name));
 */
import { appendMeanRows } from './added-tokens.ts';
import type { LlamaConfig } from './config.ts';
import { LORA_TARGETS, type LoraMatrices, type LoraTarget, type LoraWeights, loraScale } from './peft.ts';
import { expectedTensors, tensorToFloat32 } from './safetensors.ts';
import type { TensorSource } from './sharded.ts';

/**
 * W + scale * B A as a new f32 array; W is [outDim, inDim], A [r, inDim], B [outDim, r] (row-major).
 * B A is summed in f64 for each output row, then added to W and rounded to f32 once.
 */
export function mergeLoraWeight(W: Float32Array, m: LoraMatrices, scale: number): Float32Array {
  const { inDim, outDim } = m;
  if (W.length !== inDim * outDim)
    throw new Error(`mergeLoraWeight: the weight has ${W.length} values, not ${outDim} x ${inDim}.`);
  const r = m.A.length / inDim;
  if (!Number.isInteger(r) || m.B.length !== outDim * r)
    throw new Error(
      `mergeLoraWeight: A (${m.A.length} values) and B (${m.B.length}) do not fit a ${outDim} x ${inDim} weight.`,
    );
  const out = new Float32Array(W.length);
  const row = new Float64Array(inDim);
  for (let o = 0; o < outDim; o++) {
    row.fill(0);
    for (let k = 0; k < r; k++) {
      const b = m.B[o * r + k];
      if (b === 0) continue;
      const a0 = k * inDim;
      for (let i = 0; i < inDim; i++) row[i] += b * m.A[a0 + i];
    }
    const w0 = o * inDim;
    for (let i = 0; i < inDim; i++) out[w0 + i] = W[w0 + i] + scale * row[i];
  }
  return out;
}

export interface MergeOptions {
  /** The adapter to fold in (none: the base weights, with added rows if asked). */
  lora?: LoraWeights;
  /** Rows appended to the embedding (and an untied LM head), as `uploadModel` appends them. */
  addedTokens?: number;
}

/** A model whose tensors are produced one at a time, in f32. */
export interface MergedModel {
  /** The base config with `vocabSize` grown by the added tokens. */
  config: LlamaConfig;
  /** Tensor names in HF order: embedding, layers, final norm, untied head. */
  names: string[];
  shapes: Map<string, number[]>;
  /** The merged tensor `name` as f32 (a fresh array). */
  read(name: string): Promise<Float32Array>;
}

const PROJECTION = /^model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+_proj)\.weight$/;

/**
 * The base checkpoint `source` (described by `config`) with `options.lora` folded in and
 * `options.addedTokens` rows appended; see the file comment.
 */
export function mergeModel(
  config: LlamaConfig,
  source: TensorSource,
  options: MergeOptions = {},
): MergedModel {
  const added = options.addedTokens ?? 0;
  if (!Number.isInteger(added) || added < 0)
    throw new Error(`addedTokens must be a non-negative integer, got ${added}.`);
  const lora = options.lora;
  if (lora && lora.layers.length !== config.numLayers)
    throw new Error(`The adapter has ${lora.layers.length} layers but the model has ${config.numLayers}.`);
  const merged: LlamaConfig = { ...config, vocabSize: config.vocabSize + added };
  const shapes = expectedTensors(merged);
  const scale = lora ? loraScale(lora.config) : 0;
  const modules = lora?.modules ?? {};
  if (config.tieWordEmbeddings && modules.lm_head && !modules.embed_tokens)
    throw new Error(
      'The adapter trained lm_head alone but the model ties it to embed_tokens, so the two cannot be merged into one matrix.',
    );

  const base = async (name: string): Promise<Float32Array> =>
    tensorToFloat32(await source.read(name), `tensor ${name}`);

  const vocabRows = async (name: string, module: 'embed_tokens' | 'lm_head'): Promise<Float32Array> => {
    const saved = modules[module];
    const rows = merged.vocabSize;
    if (saved) {
      if (saved.rows !== rows || saved.cols !== config.hiddenSize)
        throw new Error(
          `The adapter's ${module} is [${saved.rows}, ${saved.cols}] but the merged model needs [${rows}, ${config.hiddenSize}].`,
        );
      return Float32Array.from(saved.data);
    }
    const w = await base(name);
    return added > 0 ? appendMeanRows(w, config.vocabSize, config.hiddenSize, added) : w;
  };

  return {
    config: merged,
    names: [...shapes.keys()],
    shapes,
    async read(name) {
      if (!shapes.has(name)) throw new Error(`The merged model has no tensor ${name}.`);
      if (name === 'model.embed_tokens.weight') return vocabRows(name, 'embed_tokens');
      if (name === 'lm_head.weight') return vocabRows(name, 'lm_head');
      const w = await base(name);
      const p = PROJECTION.exec(name);
      if (!lora || !p || !(LORA_TARGETS as readonly string[]).includes(p[2])) return w;
      const m = lora.layers[Number(p[1])][p[2] as LoraTarget];
      return m ? mergeLoraWeight(w, m, scale) : w;
    },
  };
}
