/**
 * A model folder (+ optional PEFT adapter) -> a model on the page's GPU ready for a recipe: the browser
 * twin of the CLI's `apps/cli/src/model-loader.ts`, reading through `ModelFiles` instead of the disk.
 *
 * @example
 * const loaded = await loadModel(gpu, { label: url, files: urlFiles(url), adapter: null }, true, getRecipe('flag'));
 * const embedder = new Embedder(loaded.model, loaded.tokenizer, loaded.recipe, { maxLen: 128, baseVocab: loaded.baseVocab });
 */
import { formatBytes, type Gpu, type QuantFormat } from '@llara/gpu';
import {
  type LlamaModel,
  type LlamaTokenizer,
  LoraGpu,
  type OpenedModel,
  openModel,
  readAdapter,
  uploadModel,
} from '@llara/llama';
import { type Recipe, specialTokensToAppend } from '@llara/trainer';
import type { ModelSource } from './model-files.ts';

export interface LoadedModel {
  opened: OpenedModel;
  model: LlamaModel;
  tokenizer: LlamaTokenizer;
  recipe: Recipe;
  /** Vocabulary before the recipe's added tokens. */
  baseVocab: number;
  /** Rows appended for the recipe's special tokens (0 when the tokenizer has them). */
  addedTokens: number;
  /** Where the applied adapter came from, or null. */
  adapter: string | null;
  /** One line for the page: layers, sizes, added tokens, adapter. */
  describe(): string;
  destroy(): void;
}

export async function loadModel(
  gpu: Gpu,
  source: ModelSource,
  useAdapter: boolean,
  recipe: Recipe,
  onProgress?: (fraction: number) => void,
  /** Block-quantize the base as it streams from the files (docs/quantization.md). */
  quantize?: QuantFormat,
): Promise<LoadedModel> {
  const opened = await openModel(source.files);
  const tokenizer = opened.tokenizer;
  if (!tokenizer) throw new Error(`${source.label} has no tokenizer.json.`);
  const baseVocab = opened.config.vocabSize;
  const addedTokens = specialTokensToAppend(recipe, tokenizer);
  // Read the adapter before uploading so that a bad adapter costs no GPU work.
  const adapterSource = useAdapter ? source.adapter : null;
  const adapterWeights = adapterSource ? await readAdapter(adapterSource, opened.config) : null;
  const total = opened.checkpoint.totalBytes;
  const model = await uploadModel(gpu, opened.config, opened.checkpoint, {
    addedTokens,
    quantize,
    onProgress: (p) => onProgress?.(total > 0 ? p.loadedBytes / total : 1),
  });
  if (adapterWeights) {
    try {
      model.lora = LoraGpu.upload(gpu, model.shape, adapterWeights);
    } catch (e) {
      model.destroy();
      throw e;
    }
  }
  const adapter = adapterSource && adapterWeights ? adapterSource.location : null;
  const c = opened.config;
  return {
    opened,
    model,
    tokenizer,
    recipe,
    baseVocab,
    addedTokens,
    adapter,
    describe: () =>
      `${source.label}: ${c.numLayers} layers, hidden ${c.hiddenSize}, vocab ${baseVocab}${addedTokens ? ` + ${addedTokens} ${recipe.name} tokens` : ''}, ${formatBytes(total)}${quantize ? `, ${quantize} base` : ''}${adapter ? `, LoRA adapter r=${adapterWeights!.config.r} from ${adapter}` : ', no adapter'}`,
    destroy: () => model.destroy(),
  };
}
