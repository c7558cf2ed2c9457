/**
 * Test-only: a `TokenizerLike` over `@huggingface/tokenizers` with the bundled tokenizer files
 * (stories260K's 512-token vocabulary and LLaMA-2's 32000). Not exported from the package.
 */
import { readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';
import type { TokenizerLike } from './layout.ts';

const FILES = {
  stories260K: [
    '../../../data/models/stories260K/tokenizer.json',
    '../../../data/models/stories260K/tokenizer_config.json',
  ],
  llama2: ['../../../data/llama2-tokenizer.json', null],
} as const;

const cache = new Map<string, TokenizerLike>();

export function testTokenizer(which: keyof typeof FILES): TokenizerLike {
  const hit = cache.get(which);
  if (hit) return hit;
  const [json, config] = FILES[which];
  const read = (p: string) => JSON.parse(readFileSync(new URL(p, import.meta.url), 'utf8'));
  const t = new Tokenizer(read(json), config ? read(config) : {});
  const bos = t.token_to_id('<s>');
  const eos = t.token_to_id('</s>');
  if (bos === undefined || eos === undefined) throw new Error(`The ${which} tokenizer has no <s> or </s>.`);
  const tok: TokenizerLike = {
    encode: (text, opts) => t.encode(text, { add_special_tokens: opts.addBos }).ids,
    vocabSize: t.get_vocab(true).size,
    bosId: bos,
    eosId: eos,
    tokenToId: (token) => t.token_to_id(token),
  };
  cache.set(which, tok);
  return tok;
}
