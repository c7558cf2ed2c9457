/**
 * The model's tokenizer, from HF `tokenizer.json` (+ optional `tokenizer_config.json`), run by
 * `@huggingface/tokenizers` (pure JS, browser and Node). This wrapper fixes the conventions the rest
 * of the project relies on: BOS/EOS are added explicitly (`addBos`, `addEos`) rather than through the
 * post-processor, ids are plain numbers, and extra special tokens (LLaRA's `<s1>`..`<s16>`) can be added
 * with explicit ids so that a vocabulary extended by `appendMeanRows` tokenises them as single ids.
 *
 * @example
 * const tok = LlamaTokenizer.fromJson(tokenizerJson);
 * tok.encode('Hello world!'); // [1, 15043, 3186, 29991] with the LLaMA-2 tokenizer
 * tok.encode('"', { addBos: true }); // [1, 376]
 */
import { Tokenizer } from '@huggingface/tokenizers';
import type { LlamaConfig } from './config.ts';
import { describeFile, type ModelFiles, readJson } from './files.ts';

export interface AddedTokenSpec {
  content: string;
  id: number;
  /** Special tokens are skipped by `decode(ids, { skipSpecial: true })` (default true). */
  special?: boolean;
}

export interface EncodeOptions {
  /** Prepend BOS (default: `add_bos_token` of tokenizer_config.json, else true as LLaMA does). */
  addBos?: boolean;
  /** Append EOS (default: `add_eos_token`, else false). */
  addEos?: boolean;
}

type Json = Record<string, unknown>;

interface RawAddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** A special token named in tokenizer_config.json: a string or an AddedToken dict. */
function tokenName(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string')
    return (v as Json).content as string;
  return null;
}

export class LlamaTokenizer {
  /** The tokenizer.json it came from, for messages. */
  readonly file: string;
  readonly bosId: number;
  readonly eosId: number;
  readonly unkId: number | null;
  /** One more than the largest id (base vocabulary and added tokens). */
  readonly vocabSize: number;
  private readonly tok: Tokenizer;
  private readonly json: Json;
  private readonly config: Json;

  private constructor(json: Json, config: Json, file: string) {
    this.file = file;
    this.json = json;
    this.config = config;
    try {
      this.tok = new Tokenizer(json, config);
    } catch (e) {
      throw new Error(`${file} could not be loaded as a tokenizer (${(e as Error).message}).`);
    }
    const idOf = (key: string, fallback: string) => {
      const name = tokenName(config[key]);
      return (
        (name !== null ? this.tok.token_to_id(name) : undefined) ?? this.tok.token_to_id(fallback) ?? null
      );
    };
    // Without tokenizer_config.json, the post-processor's template names the BOS it would add.
    const templateBos = (json.post_processor as { single?: Array<{ SpecialToken?: { id?: string } }> } | null)
      ?.single?.[0]?.SpecialToken?.id;
    const bos =
      idOf('bos_token', '<s>') ?? (templateBos ? (this.tok.token_to_id(templateBos) ?? null) : null);
    const eos = idOf('eos_token', '</s>');
    if (bos === null)
      throw new Error(`${file} has no BOS token (neither tokenizer_config.json's bos_token nor <s>).`);
    if (eos === null)
      throw new Error(`${file} has no EOS token (neither tokenizer_config.json's eos_token nor </s>).`);
    this.bosId = bos;
    this.eosId = eos;
    this.unkId = idOf('unk_token', '<unk>');
    let maxId = -1;
    for (const id of this.tok.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
  }

  /**
   * From parsed JSON. `file` names tokenizer.json in messages.
   * The model must be present (`model.vocab`); a broken file is one sentence naming it.
   */
  static fromJson(
    tokenizerJson: unknown,
    tokenizerConfig: unknown = {},
    file = 'tokenizer.json',
  ): LlamaTokenizer {
    if (typeof tokenizerJson !== 'object' || tokenizerJson === null || Array.isArray(tokenizerJson))
      throw new Error(`${file} is not a JSON object.`);
    const json = tokenizerJson as Json;
    const model = json.model as Json | undefined;
    if (!model || typeof model !== 'object' || model.vocab === undefined)
      throw new Error(`${file} has no "model.vocab", so it is not a tokenizers-library tokenizer.json.`);
    const config = (tokenizerConfig ?? {}) as Json;
    return new LlamaTokenizer({ added_tokens: [], ...json }, config, file);
  }

  /** Loads `tokenizer.json` and, if present, `tokenizer_config.json` from `files`. */
  static async fromFiles(files: ModelFiles): Promise<LlamaTokenizer> {
    const file = describeFile(files, 'tokenizer.json');
    if (!(await files.has('tokenizer.json')))
      throw new Error(
        `${file} does not exist (only tokenizer.json tokenizers are supported, not tokenizer.model).`,
      );
    const json = await readJson(files, 'tokenizer.json');
    const config = (await files.has('tokenizer_config.json'))
      ? await readJson(files, 'tokenizer_config.json')
      : {};
    return LlamaTokenizer.fromJson(json, config, file);
  }

  /**
   * A tokenizer that also knows `tokens` (matched in text before the model's own splitting, never
   * normalised); this one is left unchanged. Adding a token already present with the same id is a
   * no-op; an id or a content that is already taken by something else is refused.
   */
  withAddedTokens(tokens: readonly AddedTokenSpec[]): LlamaTokenizer {
    const fresh: RawAddedToken[] = [];
    for (const t of tokens) {
      if (!Number.isInteger(t.id) || t.id < 0)
        throw new Error(`Added token ${t.content} has an invalid id ${t.id}.`);
      const existingId = this.tok.token_to_id(t.content) ?? fresh.find((a) => a.content === t.content)?.id;
      if (existingId === t.id) continue;
      if (existingId !== undefined)
        throw new Error(
          `${this.file} already has token ${t.content} with id ${existingId}, so it cannot get id ${t.id}.`,
        );
      const holder = this.tok.id_to_token(t.id) ?? fresh.find((a) => a.id === t.id)?.content;
      if (holder !== undefined)
        throw new Error(
          `${this.file} already uses id ${t.id} for token ${holder}, so ${t.content} cannot have it.`,
        );
      fresh.push({
        id: t.id,
        content: t.content,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: t.special ?? true,
      });
    }
    if (fresh.length === 0) return this;
    // The library only reads the JSON, so a shallow copy with a longer added_tokens list is enough.
    const json = { ...this.json, added_tokens: [...(this.json.added_tokens as RawAddedToken[]), ...fresh] };
    return new LlamaTokenizer(json, this.config, this.file);
  }

  /** Token ids of `text`; BOS/EOS per `options` (see `EncodeOptions` for defaults). */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const addBos = options.addBos ?? (this.config.add_bos_token as boolean | undefined) ?? true;
    const addEos = options.addEos ?? (this.config.add_eos_token as boolean | undefined) ?? false;
    const ids = text.length === 0 ? [] : this.tok.encode(text, { add_special_tokens: false }).ids;
    if (addBos) ids.unshift(this.bosId);
    if (addEos) ids.push(this.eosId);
    return ids;
  }

  /** Text of `ids`; `skipSpecial` drops BOS/EOS/UNK and added special tokens. */
  decode(ids: readonly number[], options: { skipSpecial?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.tok.decode([...ids], {
      skip_special_tokens: options.skipSpecial ?? false,
      clean_up_tokenization_spaces:
        (this.config.clean_up_tokenization_spaces as boolean | undefined) ?? false,
    });
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }
}

/**
 * Refuses a tokenizer that does not belong to the model: ids beyond the model's vocabulary (they would
 * index past the embedding), or BOS/EOS ids that differ from config.json. A model vocabulary larger
 * than the tokenizer's is fine (checkpoints pad it).
 */
export function checkTokenizerMatchesModel(
  tok: LlamaTokenizer,
  config: LlamaConfig,
  configFile = 'config.json',
): void {
  if (tok.vocabSize > config.vocabSize)
    throw new Error(
      `${tok.file} uses token ids up to ${tok.vocabSize - 1} but ${configFile} has vocab_size ${config.vocabSize}, so the tokenizer does not belong to this model.`,
    );
  if (tok.bosId !== config.bosTokenId)
    throw new Error(
      `${tok.file} has BOS id ${tok.bosId} but ${configFile} has bos_token_id ${config.bosTokenId}, so the tokenizer does not belong to this model.`,
    );
  if (!config.eosTokenIds.includes(tok.eosId))
    throw new Error(
      `${tok.file} has EOS id ${tok.eosId} but ${configFile} has eos_token_id ${config.eosTokenIds.join(' or ')}, so the tokenizer does not belong to this model.`,
    );
}
