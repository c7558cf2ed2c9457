/**
 * The bundled stories260K as the worker loads it, independent of the demo page's own loader: its
 * files over HTTP from the app's public folder, with the folder's file list known up front so that
 * looking for optional files (a shard index) asks the server nothing and logs no 404.
 *
 * @example
 * const { model, tokenizer, config, baseVocab } = await loadBundledModel(gpu, document.baseURI, getRecipe('flag'));
 */
import type { Gpu } from '@llara/gpu';
import {
  type LlamaConfig,
  type LlamaModel,
  type LlamaTokenizer,
  type ModelFiles,
  openModel,
  uploadModel,
  urlFiles,
} from '@llara/llama';
import { type Recipe, specialTokensToAppend } from '@llara/trainer';

export const BUNDLED_MODEL_PATH = 'models/stories260K/';
/** What `data/models/stories260K/` holds that the loader may ask for. */
const BUNDLED_FILES = new Set([
  'config.json',
  'generation_config.json',
  'model.safetensors',
  'special_tokens_map.json',
  'tokenizer.json',
  'tokenizer_config.json',
]);

export function bundledModelFiles(base: string): ModelFiles {
  const files = urlFiles(new URL(BUNDLED_MODEL_PATH, base).toString());
  return {
    location: files.location,
    has: async (name) => BUNDLED_FILES.has(name),
    size: (name) => files.size(name),
    read: (name, start, end) => files.read(name, start, end),
  };
}

export interface BundledModel {
  config: LlamaConfig;
  model: LlamaModel;
  tokenizer: LlamaTokenizer;
  /** Vocabulary before the recipe's added tokens (what layouts and `llara pretrain` use). */
  baseVocab: number;
}

/** stories260K on `gpu` with the recipe's special tokens appended (mean-initialised rows), as the CLI loads it. */
export async function loadBundledModel(gpu: Gpu, base: string, recipe: Recipe): Promise<BundledModel> {
  const opened = await openModel(bundledModelFiles(base));
  const tokenizer = opened.tokenizer;
  if (!tokenizer) throw new Error(`${opened.files.location} has no tokenizer.json.`);
  const model = await uploadModel(gpu, opened.config, opened.checkpoint, {
    addedTokens: specialTokensToAppend(recipe, tokenizer),
  });
  return { config: opened.config, model, tokenizer, baseVocab: opened.config.vocabSize };
}
