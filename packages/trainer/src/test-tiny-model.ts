/**
 * Test-only: the tiny GQA fixture of `@llara/llama` (2 layers, hidden 64, vocabulary 128, random
 * weights) on the GPU and as host f32 weights for the CPU reference, a character tokenizer that fits
 * its vocabulary (ids 3..111; the flag recipe's 16 specials land on 112..127), and LoRA adapters.
 * Not exported from the package.
 */
import type { Gpu } from '@llara/gpu';
import { type LlamaConfig, type LlamaModel, readAllFloat32, uploadModel } from '@llara/llama';
import { openModelFolder } from '@llara/llama/node';
import type { TokenizerLike } from './layout.ts';

export const TINY_GQA = new URL('../../llama/test/fixtures/tiny-gqa', import.meta.url).pathname;

/** The vocabulary below the flag specials: 128 - 16. */
export const CHAR_BASE_VOCAB = 112;

/** One token per character: code point c -> 3 + c mod 109 (BOS 1, EOS 2, pad/unk 0). */
export const charTokenizer: TokenizerLike = {
  encode(text, opts) {
    const ids = Array.from(text, (ch) => 3 + ((ch.codePointAt(0) ?? 0) % (CHAR_BASE_VOCAB - 3)));
    return opts.addBos ? [1, ...ids] : ids;
  },
  vocabSize: CHAR_BASE_VOCAB,
  bosId: 1,
  eosId: 2,
};

export interface TinyModel {
  config: LlamaConfig;
  weights: Map<string, Float32Array>;
  model: LlamaModel;
}

export async function loadTinyModel(gpu: Gpu): Promise<TinyModel> {
  const opened = await openModelFolder(TINY_GQA, { tokenizer: false });
  const weights = await readAllFloat32(opened.checkpoint);
  const model = await uploadModel(gpu, opened.config, opened.checkpoint);
  return { config: opened.config, weights, model };
}

/** The graph tests' random adapter (B not zero), shared with `@llara/llama`. */
export { randomLora } from '@llara/llama';

/** Every LoRA gradient, in `parameters()` order, then zeroes them on the device. */
export async function takeGrads(model: LlamaModel): Promise<Float32Array[]> {
  const params = model.lora?.parameters() ?? [];
  const out: Float32Array[] = [];
  for (const p of params) out.push((await model.gpu.read(p.grad)) as Float32Array);
  const rec = model.gpu.recorder();
  for (const p of params) rec.clear(p.grad);
  rec.submit();
  return out;
}
