/**
 * Model folder (+ optional PEFT adapter) -> a model on the GPU ready for a recipe, with a progress bar
 * while weights stream in. Shared by every command that runs the model.
 */
import { formatBytes, type Gpu, type QuantFormat } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { type LlamaModel, type LlamaTokenizer, LoraGpu, type OpenedModel, uploadModel } from '@llara/llama';
import { createQuantizePool, openModelFolder, readAdapterFolder } from '@llara/llama/node';
import { getRecipe, type Recipe, specialTokensToAppend } from '@llara/trainer';
import { UserError } from './errors.ts';
import { defaultModelDir } from './paths.ts';
import { progress } from './progress.ts';

export interface LoadedModel {
  gpu: Gpu;
  opened: OpenedModel;
  model: LlamaModel;
  tokenizer: LlamaTokenizer;
  recipe: Recipe;
  /**
   * Vocabulary before the recipe's added tokens, or undefined when the checkpoint already has them
   * (a merged export): layouts then take the special ids from the tokenizer.
   */
  baseVocab: number | undefined;
  close(): void;
}

export interface LoadOptions {
  model?: string;
  adapter?: string;
  recipe?: string;
  quiet?: boolean;
  gpu?: Gpu;
  /** Block-quantize the base as it loads (`--quantize`). */
  quantize?: QuantFormat;
}

export function recipeOrFail(name: string | undefined): Recipe {
  try {
    return getRecipe(name ?? 'flag');
  } catch (e) {
    throw new UserError((e as Error).message);
  }
}

/** Opens the model folder and checks it (config, weights headers, tokenizer) without touching the GPU. */
export async function openModelOrFail(dir: string): Promise<OpenedModel> {
  try {
    const opened = await openModelFolder(dir);
    if (!opened.tokenizer) throw new Error(`${dir} has no tokenizer.json.`);
    return opened;
  } catch (e) {
    throw new UserError((e as Error).message);
  }
}

/** `--quantize` on a folder that `llara export --quantize` already quantized is refused. */
export function checkQuantize(dir: string, opened: OpenedModel, quantize: QuantFormat | undefined): void {
  const q = opened.config.quantization;
  if (quantize && q)
    throw new UserError(
      `${dir} is already ${q}-quantized (config.json's quantization block); drop --quantize ${quantize}.`,
    );
}

export async function loadModel(opts: LoadOptions): Promise<LoadedModel> {
  const recipe = recipeOrFail(opts.recipe);
  const dir = opts.model ?? defaultModelDir();
  const opened = await openModelOrFail(dir);
  const tokenizer = opened.tokenizer!;
  const base = opened.config.vocabSize;
  const added = specialTokensToAppend(recipe, tokenizer);
  checkQuantize(dir, opened, opts.quantize);
  const gpu = opts.gpu ?? (await requestNodeGpu());
  const bar = opts.quiet ? null : progress('loading weights', opened.checkpoint.totalBytes, 'bytes');
  // Quantizing on load runs on every core (the same bits as on one; minutes saved on a 7B model).
  const pool = opts.quantize ? createQuantizePool() : null;
  let model: LlamaModel;
  try {
    model = await uploadModel(gpu, opened.config, opened.checkpoint, {
      addedTokens: added,
      quantize: opts.quantize,
      ...(pool ? { quantizeTensor: pool.quantize } : {}),
      onProgress: (p) => bar?.update(p.loadedBytes),
    });
  } catch (e) {
    if (!opts.gpu) gpu.destroy();
    throw e;
  } finally {
    bar?.stop();
    await pool?.close();
  }
  if (opts.adapter) {
    try {
      const adapter = await readAdapterFolder(opts.adapter, opened.config, {
        vocabSize: model.shape.vocabSize,
      });
      model.lora = LoraGpu.upload(gpu, model.shape, adapter);
    } catch (e) {
      model.destroy();
      if (!opts.gpu) gpu.destroy();
      throw new UserError((e as Error).message);
    }
  }
  if (!opts.quiet) {
    process.stderr.write(
      `model ${dir}: ${opened.config.numLayers} layers, hidden ${opened.config.hiddenSize}, vocab ${base}${added ? ` + ${added} ${recipe.name} tokens` : ''}${opts.quantize || opened.config.quantization ? `, ${opts.quantize ?? opened.config.quantization} base` : ''}, ${formatBytes(opened.checkpoint.totalBytes)} on ${gpu.caps.adapter.device || gpu.caps.adapter.description}\n`,
    );
  }
  return {
    gpu,
    opened,
    model,
    tokenizer,
    recipe,
    baseVocab: added > 0 || !recipe.specialTokens ? base : undefined,
    close() {
      model.destroy();
      if (!opts.gpu) gpu.destroy();
    },
  };
}
