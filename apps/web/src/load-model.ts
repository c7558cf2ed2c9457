/**
 * A model folder (+ optional PEFT adapter) -> a model on the model worker's GPU ready for a recipe: the
 * browser twin of the CLI's `apps/cli/src/model-loader.ts`, reading through `ModelFiles` instead of the
 * disk. Two steps, so that a bad folder never costs the page its working model: `prepareModel` checks
 * everything that can be checked without the GPU (JSON files, config, tokenizer, checkpoint headers, the
 * adapter), and only then does the worker (`model-worker.ts`) unload the old model and `uploadModel` the
 * new one.
 *
 * @example
 * const prepared = await prepareModel({ label: url, files: urlFiles(url), adapter: null }, getRecipe('flag'));
 * old?.destroy();
 * const loaded = await uploadModel(gpu, prepared, true);
 * const embedder = new Embedder(loaded.model, loaded.tokenizer, loaded.recipe, { maxLen: 128, baseVocab: loaded.baseVocab });
 */
import { formatBytes, type Gpu, type QuantFormat } from '@llara/gpu';
import {
  ADAPTER_CONFIG_FILE,
  describeFile,
  type LlamaModel,
  type LlamaTokenizer,
  LoraGpu,
  type LoraWeights,
  type ModelFiles,
  type OpenedModel,
  openModel,
  type QuantizePool,
  readAdapter,
  SAFETENSORS_INDEX_FILE,
  uploadModel as uploadWeights,
} from '@llara/llama';
import { type Recipe, specialTokensToAppend } from '@llara/trainer';
import type { ModelSource } from './model-files.ts';
import { decodeText, parseJsonText } from './text-bytes.ts';

/** A model folder checked and opened, its adapter read; nothing on the GPU yet. */
export interface PreparedModel {
  label: string;
  opened: OpenedModel;
  tokenizer: LlamaTokenizer;
  recipe: Recipe;
  /** Vocabulary before the recipe's added tokens. */
  baseVocab: number;
  /** Rows appended for the recipe's special tokens (0 when the tokenizer has them). */
  addedTokens: number;
  /** The adapter found with the model, read and checked against it, or null. */
  adapter: { location: string; weights: LoraWeights } | null;
}

export interface LoadedModel extends PreparedModel {
  model: LlamaModel;
  /** Whether the adapter is applied now. */
  readonly adapterApplied: boolean;
  /** Applies or removes the adapter at once (no-op without one); the model's embeddings change. */
  setAdapter(apply: boolean): void;
  /** One line for the page: layers, sizes, added tokens, adapter. */
  describe(): string;
  destroy(): void;
}

/**
 * Checks the folder's JSON files as text first (a binary or malformed file gets one sentence naming it,
 * without the parser's quote of its bytes), then opens the model, its tokenizer and adapter.
 */
export async function prepareModel(source: ModelSource, recipe: Recipe): Promise<PreparedModel> {
  await checkJsonFiles(source.files, [
    'config.json',
    'tokenizer.json',
    'tokenizer_config.json',
    SAFETENSORS_INDEX_FILE,
  ]);
  if (source.adapter) await checkJsonFiles(source.adapter, [ADAPTER_CONFIG_FILE]);
  const opened = await openModel(source.files);
  const tokenizer = opened.tokenizer;
  if (!tokenizer) throw new Error(`${source.label} has no tokenizer.json.`);
  const adapter = source.adapter
    ? { location: source.adapter.location, weights: await readAdapter(source.adapter, opened.config) }
    : null;
  return {
    label: source.label,
    opened,
    tokenizer,
    recipe,
    baseVocab: opened.config.vocabSize,
    addedTokens: specialTokensToAppend(recipe, tokenizer),
    adapter,
  };
}

async function checkJsonFiles(files: ModelFiles, names: readonly string[]): Promise<void> {
  for (const name of names) {
    if (!(await files.has(name))) continue;
    const label = describeFile(files, name);
    parseJsonText(decodeText(await files.read(name), label), label);
  }
}

/** Uploads a prepared model's weights (and its adapter when `applyAdapter`) to `gpu`, quantized if asked. */
export async function uploadModel(
  gpu: Gpu,
  prepared: PreparedModel,
  applyAdapter: boolean,
  onProgress?: (fraction: number) => void,
  /** Block-quantize the base as it streams from the files (docs/quantization.md). */
  quantize?: QuantFormat,
  /** Quantizes one matrix (a `createWebQuantizePool`'s `quantize`, to use every core); default: this thread. */
  quantizeTensor?: QuantizePool['quantize'],
): Promise<LoadedModel> {
  const { opened, adapter } = prepared;
  const total = opened.checkpoint.totalBytes;
  const model = await uploadWeights(gpu, opened.config, opened.checkpoint, {
    addedTokens: prepared.addedTokens,
    quantize,
    quantizeTensor,
    onProgress: (p) => onProgress?.(total > 0 ? p.loadedBytes / total : 1),
  });
  const setAdapter = (apply: boolean) => {
    if (!adapter || apply === (model.lora !== null)) return;
    if (apply) model.lora = LoraGpu.upload(gpu, model.shape, adapter.weights);
    else {
      model.lora?.destroy();
      model.lora = null;
    }
  };
  try {
    setAdapter(applyAdapter);
  } catch (e) {
    model.destroy();
    throw e;
  }
  const c = opened.config;
  return {
    ...prepared,
    model,
    get adapterApplied() {
      return model.lora !== null;
    },
    setAdapter,
    describe: () =>
      `${prepared.label}: ${c.numLayers} layers, hidden ${c.hiddenSize}, vocab ${prepared.baseVocab}${prepared.addedTokens ? ` + ${prepared.addedTokens} ${prepared.recipe.name} tokens` : ''}, ${formatBytes(total)}${quantize ? `, ${quantize} base` : ''}${adapter ? `, LoRA adapter r=${adapter.weights.config.r} from ${adapter.location}${model.lora ? '' : ' (not applied)'}` : ', no adapter'}`,
    destroy: () => model.destroy(),
  };
}
