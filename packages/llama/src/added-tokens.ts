/**
 * LLaRA `flag` recipe's 16 special tokens `<s1>`..`<s16>` (docs: /LLARA.md). The released checkpoints
 * give them ids 32000..32015 in a non-sequential order; for a base vocabulary of size V the same rule
 * gives `<sk>` the id V + (released id of `<sk>` - 32000), so adapters trained on LLaMA-2 interoperate.
 * A model that lacks them gets new embedding (and untied LM head) rows, each the mean of the existing
 * rows (computed in f64, stored as f32): deterministic, and close to every token at once.
 *
 * @example
 * const tokens = flagSpecialTokens(512); // [{content: '<s1>', id: 520}, ...]
 * const tok2 = tok.withAddedTokens(tokens);
 * const embed2 = appendMeanRows(embed, 512, 64, 16); // [528, 64]
 */
import type { LlamaConfig } from './config.ts';
import type { AddedTokenSpec } from './tokenizer.ts';

/** Released ids of `<s1>`..`<s16>` in BAAI's LLaRA checkpoints (LLaMA-2 vocabulary of 32000). */
export const FLAG_RELEASED_IDS: readonly number[] = [
  32008, 32011, 32004, 32013, 32007, 32005, 32002, 32014, 32000, 32009, 32012, 32001, 32010, 32003, 32006,
  32015,
];
const RELEASED_BASE = 32000;
export const FLAG_TOKEN_COUNT = 16;

/** `<s1>`..`<s16>` with their ids for a base vocabulary of `baseVocab` tokens. */
export function flagSpecialTokens(baseVocab: number): AddedTokenSpec[] {
  return FLAG_RELEASED_IDS.map((released, k) => ({
    content: `<s${k + 1}>`,
    id: baseVocab + (released - RELEASED_BASE),
    special: true,
  }));
}

/** Ids of `<s1>`..`<s8>` (EBAE) and `<s9>`..`<s16>` (EBAR) for a base vocabulary of `baseVocab`. */
export function flagSpecialIds(baseVocab: number): { ebae: number[]; ebar: number[] } {
  const ids = flagSpecialTokens(baseVocab).map((t) => t.id);
  return { ebae: ids.slice(0, 8), ebar: ids.slice(8) };
}

/**
 * A [rows + count, cols] matrix: `matrix` [rows, cols] followed by `count` rows equal to the f64 mean
 * of its rows, rounded to f32.
 */
export function appendMeanRows(
  matrix: Float32Array,
  rows: number,
  cols: number,
  count: number,
): Float32Array {
  if (matrix.length !== rows * cols)
    throw new Error(`appendMeanRows: the matrix has ${matrix.length} values, not ${rows} x ${cols}.`);
  if (rows === 0) throw new Error('appendMeanRows: a matrix with no rows has no mean row.');
  const mean = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) mean[c] += matrix[r * cols + c];
  for (let c = 0; c < cols; c++) mean[c] /= rows;
  const out = new Float32Array((rows + count) * cols);
  out.set(matrix);
  for (let k = 0; k < count; k++) out.set(mean, (rows + k) * cols);
  return out;
}

/**
 * Extends a model's vocabulary by `count` tokens: the embedding (and untied LM head) get mean rows and
 * the config's vocab_size grows. `weights` maps HF names to f32 values; other tensors are shared.
 */
export function extendVocabulary(
  config: LlamaConfig,
  weights: ReadonlyMap<string, Float32Array>,
  count: number,
): { config: LlamaConfig; weights: Map<string, Float32Array> } {
  const out = new Map(weights);
  const v = config.vocabSize;
  const h = config.hiddenSize;
  for (const name of config.tieWordEmbeddings
    ? ['model.embed_tokens.weight']
    : ['model.embed_tokens.weight', 'lm_head.weight']) {
    const m = weights.get(name);
    if (!m) throw new Error(`Cannot extend the vocabulary: the weights have no ${name}.`);
    out.set(name, appendMeanRows(m, v, h, count));
  }
  return { config: { ...config, vocabSize: v + count }, weights: out };
}
