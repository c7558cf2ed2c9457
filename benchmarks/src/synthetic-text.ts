/**
 * Text and a tokenizer for end-to-end benchmarks with random weights: one token per whitespace-separated
 * word (ids hashed into the vocabulary), so a generated text of n words is exactly n tokens and every
 * batch fills its max length. The real layouts, batching, pooling and losses run on top of it, only the
 * tokenizer itself is replaced (its cost is not what these benchmarks measure).
 *
 * ```ts
 * const tok = wordTokenizer(32000);
 * tok.encode('w1 w2 w3', { addBos: true }); // [1, id(w1), id(w2), id(w3)]
 * ```
 */
import type { PretrainRow, TokenizerLike } from '@llara/trainer';
import { xorshift32 } from './random-data.ts';

/** FNV-1a hash of a word mapped into [3, vocab): ids 0..2 are unk, BOS and EOS. */
function wordId(word: string, vocab: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 0x01000193);
  return 3 + ((h >>> 0) % (vocab - 3));
}

export function wordTokenizer(vocab: number): TokenizerLike {
  if (!(Number.isInteger(vocab) && vocab > 3))
    throw new Error(`A vocabulary of ${vocab} tokens is too small.`);
  return {
    vocabSize: vocab,
    bosId: 1,
    eosId: 2,
    encode(text, opts) {
      const ids = text
        .split(/\s+/)
        .filter((w) => w.length > 0)
        .map((w) => wordId(w, vocab));
      return opts.addBos ? [1, ...ids] : ids;
    },
  };
}

/** `words` pseudo-random words drawn from a 5000-word lexicon (one token each). */
export function randomText(words: number, seed: number): string {
  const next = xorshift32(seed);
  const out = new Array<string>(words);
  for (let i = 0; i < words; i++) out[i] = `w${next() % 5000}`;
  return out.join(' ');
}

/** Pretraining rows whose input fills `maxLen` (it is truncated to the budget) and a 64-word next passage. */
export function randomPretrainRows(count: number, maxLen: number, seed: number): PretrainRow[] {
  return Array.from({ length: count }, (_, i) => ({
    input: randomText(maxLen, seed + 2 * i),
    outputPredict: randomText(64, seed + 2 * i + 1),
  }));
}
