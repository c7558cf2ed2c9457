import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { flagSpecialTokens } from './added-tokens.ts';
import { parseLlamaConfig } from './config.ts';
import { folderFiles } from './node.ts';
import { checkTokenizerMatchesModel, LlamaTokenizer } from './tokenizer.ts';

const read = (rel: string) => JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8'));
const llama2 = LlamaTokenizer.fromJson(
  read('../../../data/llama2-tokenizer.json'),
  {},
  'llama2-tokenizer.json',
);
const storiesDir = new URL('../../../data/models/stories260K/', import.meta.url).pathname;
const stories = await LlamaTokenizer.fromFiles(folderFiles(storiesDir));
const storiesConfig = parseLlamaConfig(read('../../../data/models/stories260K/config.json'));
const golden = read('../../../data/goldens/llara-flag-stories260K/golden.json');
const row = JSON.parse(
  readFileSync(new URL('../../../data/goldens/llara-flag-stories260K/data.jsonl', import.meta.url), 'utf8'),
);

const EBAE = '", summarize the above passage within eight words: ';
const EBAR = '", predict the following passage within eight words: ';

describe('LlamaTokenizer (LLaMA-2)', () => {
  it('encodes with BOS by default and decodes back', () => {
    expect(llama2.encode('Hello world!')).toEqual([1, 15043, 3186, 29991]);
    expect(llama2.encode('Hello world!', { addBos: false, addEos: true })).toEqual([15043, 3186, 29991, 2]);
    expect(llama2.decode([1, 15043, 3186, 29991], { skipSpecial: true })).toBe('Hello world!');
    expect(llama2.vocabSize).toBe(32000);
    expect([llama2.bosId, llama2.eosId, llama2.unkId]).toEqual([1, 2, 0]);
  });

  it("gives LLaRA's released prefix and suffix lengths", () => {
    expect(llama2.encode('"', { addBos: true })).toEqual([1, 376]);
    const ebae = llama2.encode(EBAE, { addBos: false });
    const ebar = llama2.encode(EBAR, { addBos: false });
    expect(ebae).toHaveLength(11);
    expect(ebar).toHaveLength(10);
    // The tokenizer's leading-space rule: the trailing space is its own "▁" token.
    expect(ebae.at(-1)).toBe(29871);
  });

  it('adds <s1>..<s16> with the released ids, matched as single tokens', () => {
    const tok = llama2.withAddedTokens(flagSpecialTokens(32000));
    expect(tok.vocabSize).toBe(32016);
    expect(tok.tokenToId('<s1>')).toBe(32008);
    expect(tok.tokenToId('<s9>')).toBe(32000);
    const ids = tok.encode(`${EBAE}<s1><s2><s3><s4><s5><s6><s7><s8>`, { addBos: false });
    expect(ids).toHaveLength(19);
    expect(ids.slice(11)).toEqual([32008, 32011, 32004, 32013, 32007, 32005, 32002, 32014]);
    expect(tok.decode(ids.slice(11))).toBe('<s1><s2><s3><s4><s5><s6><s7><s8>');
    expect(tok.decode(ids, { skipSpecial: true })).toBe(EBAE);
    // The base tokenizer is unchanged.
    expect(llama2.tokenToId('<s1>')).toBeUndefined();
  });

  it('refuses added tokens whose id or content is taken', () => {
    expect(() => llama2.withAddedTokens([{ content: '<new>', id: 5 }])).toThrow(
      'llama2-tokenizer.json already uses id 5 for token <0x02>, so <new> cannot have it.',
    );
    expect(() => llama2.withAddedTokens([{ content: '<s>', id: 40000 }])).toThrow(
      'llama2-tokenizer.json already has token <s> with id 1, so it cannot get id 40000.',
    );
    expect(llama2.withAddedTokens([{ content: '<s>', id: 1 }])).toBe(llama2);
    expect(() =>
      llama2.withAddedTokens([
        { content: '<a>', id: 32000 },
        { content: '<a>', id: 32001 },
      ]),
    ).toThrow('llama2-tokenizer.json already has token <a> with id 32000, so it cannot get id 32001.');
  });
});

describe('LlamaTokenizer (stories260K, the flag golden)', () => {
  const tok = stories.withAddedTokens(flagSpecialTokens(512));

  it('reproduces the golden prefix, text and suffix ids', () => {
    expect(tok.encode('"', { addBos: true })).toEqual(golden.prefix_ids);
    expect(tok.encode(row.input, { addBos: false })).toEqual(golden.text_ids);
    expect(tok.encode(EBAE, { addBos: false })).toEqual(golden.ebae_suffix_ids_before_specials);
    expect(tok.encode(EBAR, { addBos: false })).toEqual(golden.ebar_suffix_ids_before_specials);
    expect(tok.encode(row.output_summarize)).toEqual(golden.ebae_targets_from);
    expect(tok.encode(row.output_predict)).toEqual(golden.ebar_targets_from);
  });

  it('rebuilds the whole golden sequence, specials included', () => {
    const s = (from: number, to: number) =>
      Array.from({ length: to - from + 1 }, (_, k) => `<s${from + k}>`).join('');
    const ids = [
      ...tok.encode('"'),
      ...tok.encode(row.input, { addBos: false }),
      ...tok.encode(EBAE + s(1, 8), { addBos: false }),
      ...tok.encode(EBAR + s(9, 16), { addBos: false }),
    ];
    expect(ids).toEqual(golden.ids);
    expect(golden.special_ids.s1_8).toEqual(ids.slice(-49, -41));
  });

  it('reads tokenizer_config.json (add_bos_token) and round-trips text', () => {
    expect(stories.vocabSize).toBe(512);
    expect(stories.file).toBe(`${storiesDir}tokenizer.json`);
    expect(stories.decode(stories.encode(row.input), { skipSpecial: true })).toBe(row.input);
  });
});

describe('checkTokenizerMatchesModel', () => {
  it('accepts the matching tokenizer, and one extended within the model vocabulary', () => {
    expect(() => checkTokenizerMatchesModel(stories, storiesConfig)).not.toThrow();
    const extended = stories.withAddedTokens(flagSpecialTokens(512));
    expect(() => checkTokenizerMatchesModel(extended, { ...storiesConfig, vocabSize: 528 })).not.toThrow();
  });

  it('refuses a tokenizer larger than the model vocabulary', () => {
    expect(() => checkTokenizerMatchesModel(llama2, storiesConfig)).toThrow(
      'llama2-tokenizer.json uses token ids up to 31999 but config.json has vocab_size 512, so the tokenizer does not belong to this model.',
    );
  });

  it('refuses different BOS or EOS ids', () => {
    expect(() =>
      checkTokenizerMatchesModel(stories, { ...storiesConfig, bosTokenId: 0 }, 'm/config.json'),
    ).toThrow(
      /has BOS id 1 but m\/config\.json has bos_token_id 0, so the tokenizer does not belong to this model\.$/,
    );
    expect(() => checkTokenizerMatchesModel(stories, { ...storiesConfig, eosTokenIds: [7, 8] })).toThrow(
      /has EOS id 2 but config\.json has eos_token_id 7 or 8/,
    );
  });

  it('refuses a file that is not a tokenizer.json', () => {
    expect(() => LlamaTokenizer.fromJson({ version: '1.0' }, {}, 'x/tokenizer.json')).toThrow(
      'x/tokenizer.json has no "model.vocab", so it is not a tokenizers-library tokenizer.json.',
    );
  });
});
