/**
 * Registering added special tokens in the HF tokenizer files of an exported model, so that any
 * tokenizer-aware loader (transformers, tokenizers, this package's `LlamaTokenizer`) maps `<s1>` to its
 * id without being told: `tokenizer.json` lists them in `added_tokens`; `tokenizer_config.json` in
 * `added_tokens_decoder` (transformers >= 4.34) and `additional_special_tokens`; and
 * `special_tokens_map.json` in `additional_special_tokens`. Pure JSON edits, browser-safe.
 *
 * @example
 * const json = tokenizerJsonWithTokens(JSON.parse(text), flagSpecialTokens(512));
 */
import type { AddedTokenSpec } from './tokenizer.ts';

type Json = Record<string, unknown>;

interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

function entry(t: AddedTokenSpec): AddedTokenJson {
  return {
    id: t.id,
    content: t.content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: t.special ?? true,
  };
}

/**
 * `tokenizer.json` with `tokens` appended to `added_tokens` (tokens already listed with the same id are
 * kept once). A content or id already used by another token is refused: the file belongs to another
 * vocabulary. `file` names the source in messages.
 */
export function tokenizerJsonWithTokens(
  json: unknown,
  tokens: readonly AddedTokenSpec[],
  file = 'tokenizer.json',
): Json {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new Error(`${file} is not a JSON object.`);
  const j = json as Json;
  const list = [...((j.added_tokens as AddedTokenJson[] | undefined) ?? [])];
  const vocab = ((j.model as Json | undefined)?.vocab ?? {}) as Record<string, number> | unknown[];
  const inVocab = (content: string): number | undefined =>
    Array.isArray(vocab) ? undefined : (vocab as Record<string, number>)[content];
  for (const t of tokens) {
    const same = list.find((a) => a.content === t.content);
    if (same && same.id === t.id) continue;
    const taken = same?.id ?? inVocab(t.content);
    if (taken !== undefined)
      throw new Error(
        `${file} already has token ${t.content} with id ${taken}, so it cannot get id ${t.id}.`,
      );
    const holder = list.find((a) => a.id === t.id);
    if (holder)
      throw new Error(
        `${file} already uses id ${t.id} for ${holder.content}, so ${t.content} cannot have it.`,
      );
    list.push(entry(t));
  }
  list.sort((a, b) => a.id - b.id);
  return { ...j, added_tokens: list };
}

/** `tokenizer_config.json` (or `{}`) with `tokens` in `added_tokens_decoder` and `additional_special_tokens`. */
export function tokenizerConfigWithTokens(config: unknown, tokens: readonly AddedTokenSpec[]): Json {
  const c = (typeof config === 'object' && config !== null && !Array.isArray(config) ? config : {}) as Json;
  const decoder = { ...((c.added_tokens_decoder as Json | undefined) ?? {}) };
  for (const t of tokens) {
    const { id: _id, ...rest } = entry(t);
    decoder[String(t.id)] = rest;
  }
  return {
    ...c,
    added_tokens_decoder: decoder,
    additional_special_tokens: withSpecialNames(c.additional_special_tokens, tokens),
  };
}

/** `special_tokens_map.json` (or `{}`) with `tokens` in `additional_special_tokens`. */
export function specialTokensMapWithTokens(map: unknown, tokens: readonly AddedTokenSpec[]): Json {
  const m = (typeof map === 'object' && map !== null && !Array.isArray(map) ? map : {}) as Json;
  return { ...m, additional_special_tokens: withSpecialNames(m.additional_special_tokens, tokens) };
}

function withSpecialNames(existing: unknown, tokens: readonly AddedTokenSpec[]): unknown[] {
  const out = Array.isArray(existing) ? [...existing] : [];
  const has = (name: string) =>
    out.some((v) => v === name || (typeof v === 'object' && v !== null && (v as Json).content === name));
  for (const t of tokens) if ((t.special ?? true) && !has(t.content)) out.push(t.content);
  return out;
}
