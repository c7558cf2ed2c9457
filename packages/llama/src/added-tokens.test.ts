import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  appendMeanRows,
  extendVocabulary,
  FLAG_RELEASED_IDS,
  flagSpecialIds,
  flagSpecialTokens,
} from './added-tokens.ts';
import { parseLlamaConfig } from './config.ts';

const golden = JSON.parse(
  readFileSync(new URL('../../../data/goldens/llara-flag-stories260K/golden.json', import.meta.url), 'utf8'),
);

describe('flag special tokens', () => {
  it('keeps the released ids for LLaMA-2 and maps them onto other vocabularies', () => {
    expect(flagSpecialTokens(32000).map((t) => t.id)).toEqual(FLAG_RELEASED_IDS);
    expect(flagSpecialTokens(32000)[0]).toEqual({ content: '<s1>', id: 32008, special: true });
    const ids = flagSpecialIds(512);
    expect(ids.ebae).toEqual(golden.special_ids.s1_8);
    expect(ids.ebar).toEqual(golden.special_ids.s9_16);
    expect(new Set([...ids.ebae, ...ids.ebar])).toEqual(
      new Set(Array.from({ length: 16 }, (_, k) => 512 + k)),
    );
  });
});

describe('appendMeanRows', () => {
  it('appends rows equal to the f64 mean of the existing rows, rounded to f32', () => {
    // Values whose f32 running sum would lose the small parts: the f64 mean keeps them.
    const m = new Float32Array([1e8, 1, 1, 3, -1e8, 2]);
    const out = appendMeanRows(m, 3, 2, 2);
    expect(out.length).toBe(10);
    expect(Array.from(out.subarray(0, 6))).toEqual(Array.from(m));
    expect(Array.from(out.subarray(6, 8))).toEqual([Math.fround(1 / 3), 2]);
    expect(Array.from(out.subarray(8, 10))).toEqual(Array.from(out.subarray(6, 8)));
    expect(() => appendMeanRows(m, 2, 2, 1)).toThrow('the matrix has 6 values, not 2 x 2');
  });

  it('extends the embedding, and the LM head only when untied', () => {
    const base = parseLlamaConfig({
      model_type: 'llama',
      hidden_size: 2,
      intermediate_size: 4,
      num_hidden_layers: 1,
      num_attention_heads: 1,
      vocab_size: 3,
      tie_word_embeddings: false,
    });
    const weights = new Map([
      ['model.embed_tokens.weight', new Float32Array([1, 2, 3, 4, 5, 6])],
      ['lm_head.weight', new Float32Array([0, 0, 0, 0, 3, 3])],
      ['model.norm.weight', new Float32Array([1, 1])],
    ]);
    const { config, weights: out } = extendVocabulary(base, weights, 16);
    expect(config.vocabSize).toBe(19);
    expect(out.get('model.embed_tokens.weight')!.subarray(36, 38)).toEqual(new Float32Array([3, 4]));
    expect(out.get('lm_head.weight')!.length).toBe(38);
    expect(out.get('lm_head.weight')!.subarray(6, 8)).toEqual(new Float32Array([1, 1]));
    expect(out.get('model.norm.weight')).toBe(weights.get('model.norm.weight'));
    const tied = extendVocabulary({ ...base, tieWordEmbeddings: true }, weights, 1);
    expect(tied.weights.get('lm_head.weight')!.length).toBe(6);
  });
});
