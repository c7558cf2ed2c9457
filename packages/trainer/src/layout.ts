/**
 * Recipe layouts: one text (or one pretraining row) -> token ids, position ids, the LLaRA block rule,
 * read-out positions and loss targets, for a single unpadded sequence. `batch.ts` pads several of them
 * into flat arrays and a `MaskDescription`.
 *
 * flag pretraining (one joint pass, LLaRA.md):
 *   ids       = [BOS] + enc('"') + text + enc(ebae suffix) + <s1..s8> + enc(ebar suffix) + <s9..s16>
 *   positions = 0..n-1, then the EBAR suffix reuses the positions of the first |EBAR suffix| EBAE-suffix
 *               tokens, so EBAR "sits" where EBAE sits
 *   block     = EBAR-suffix rows may not see EBAE-suffix columns
 *   text      = truncated to maxLen - |prefix| - |EBAE suffix| - |EBAR suffix|
 * paper pretraining: [BOS] + text + enc('The original sentence: ') + </s> + enc('The next sentence: ') + </s>.
 * Inference: [BOS] + prefix + text + the task's suffix (query: EBAR, passage: EBAE), or for repllama
 * [BOS] + enc('query: {q}') + </s>; the text is truncated so the whole sequence fits maxLen.
 *
 * @example
 * const l = pretrainLayout(getRecipe('flag'), tok, { input: 'a wing', outputPredict: 'lift' }, { maxLen: 512 });
 * l.ids.slice(0, 2);   // [1, 376] with the LLaMA-2 tokenizer
 * l.readout.ebae;      // the 8 slots of <s1..s8>
 */
import { Template } from '@huggingface/jinja';
import { flagSpecialIds, type Recipe, type Task } from './recipes.ts';
import { removeStopWords } from './stopwords.ts';

/** The tokenizer surface the trainer needs (`@llara/llama`'s tokenizer has this shape). */
export interface TokenizerLike {
  encode(text: string, opts: { addBos: boolean }): number[];
  /** Tokens the tokenizer knows, including any added ones. */
  vocabSize: number;
  bosId: number;
  eosId: number;
  /** Optional: lets a tokenizer that already has `<s1>..<s16>` (released checkpoints, 32016) supply their ids. */
  tokenToId?(token: string): number | undefined;
}

/** Label value that CrossEntropy ignores (PyTorch's convention). */
export const IGNORE_INDEX = -100;

/** One pretraining row: `input` predicts itself (EBAE, or `outputSummarize`) and `outputPredict` (EBAR). */
export interface PretrainRow {
  input: string;
  outputSummarize?: string;
  outputPredict: string;
}

/** A passage for inference or fine-tuning. */
export interface Passage {
  title?: string;
  text: string;
}

export interface LayoutOptions {
  /** Longest sequence allowed, prompt included. */
  maxLen: number;
  /** Vocabulary size without the 16 flag specials (default: tokenizer.vocabSize, or derived from tokenToId). */
  baseVocab?: number;
  /** Remove stop words from the bag-of-words target texts (pretraining only). */
  removeStopWords?: boolean;
}

export type Readout = 'ebae' | 'ebar' | 'embed';

/** One unpadded sequence; slots are 0-based indices into `ids`. */
export interface Layout {
  ids: number[];
  positionIds: number[];
  /** LLaRA's block rule in slots: rows [bStart, bEnd) may not see columns [aStart, aEnd); null = plain causal. */
  block: [aStart: number, aEnd: number, bStart: number, bEnd: number] | null;
  /** Read-out slots: per task when pretraining, `embed` at inference. */
  readout: Partial<Record<Readout, number[]>>;
  /** [ids.length] the id that the logits at each slot must predict, IGNORE_INDEX elsewhere; null when AR is off. */
  arTargets: number[] | null;
  /** Bag-of-words target ids per task (flag: unique, sorted; paper: the target's tokens in order). */
  bowTargets: Partial<Record<Task, number[]>>;
  /** Slots [start, end) holding the text tokens. */
  textRange: [number, number];
  /** Whether the text lost tokens to maxLen. */
  truncated: boolean;
}

/** The recipe's fixed token pieces for one tokenizer. */
export interface RecipeTokens {
  /** BOS + the prefix tokens. */
  prefix: number[];
  /** Per task: prompt tokens then the read-out tokens (8 specials, or EOS). */
  suffix: Record<Task, number[]>;
  /** Per task: how many tokens at the end of `suffix` are read out. */
  readoutCount: Record<Task, number>;
  /** For recipes without task prompts (repllama): what closes a query or passage. */
  eos: number;
  bos: number;
}

const templateCache = new Map<string, Template>();

/** Renders a recipe template (Jinja) with the given variables. */
export function renderTemplate(source: string, vars: Record<string, unknown> = {}): string {
  let t = templateCache.get(source);
  if (!t) {
    t = new Template(source);
    templateCache.set(source, t);
  }
  return t.render(vars);
}

function encodeSegment(tok: TokenizerLike, text: string): number[] {
  return text.length === 0 ? [] : tok.encode(text, { addBos: false });
}

/** The special ids of the flag recipe for this tokenizer (see `flagSpecialIds`). */
export function specialIdsFor(
  recipe: Recipe,
  tok: TokenizerLike,
  baseVocab?: number,
): Record<Task, number[]> {
  if (!recipe.specialTokens) throw new Error(`Recipe "${recipe.name}" has no special tokens.`);
  if (baseVocab === undefined && tok.tokenToId) {
    const known = recipe.specialTokens.names.map((n) => tok.tokenToId?.(n));
    if (known.every((id) => id !== undefined)) {
      const ids = known as number[];
      return { ebae: ids.slice(0, 8), ebar: ids.slice(8, 16) };
    }
  }
  return flagSpecialIds(baseVocab ?? tok.vocabSize, recipe);
}

// Keyed by the tokenizer and recipe objects, so an edited copy of a recipe never sees stale ids.
const tokensCache = new WeakMap<TokenizerLike, WeakMap<Recipe, Map<number | undefined, RecipeTokens>>>();

/** The recipe's prefix and suffix ids for this tokenizer (cached per tokenizer and recipe). */
export function recipeTokens(recipe: Recipe, tok: TokenizerLike, baseVocab?: number): RecipeTokens {
  let perTok = tokensCache.get(tok);
  if (!perTok) {
    perTok = new WeakMap();
    tokensCache.set(tok, perTok);
  }
  let perRecipe = perTok.get(recipe);
  if (!perRecipe) {
    perRecipe = new Map();
    perTok.set(recipe, perRecipe);
  }
  const cached = perRecipe.get(baseVocab);
  if (cached) return cached;
  const t = recipe.templates;
  const ends: Record<Task, number[]> =
    recipe.taskEnd === 'specials'
      ? specialIdsFor(recipe, tok, baseVocab)
      : { ebae: [tok.eosId], ebar: [tok.eosId] };
  const out: RecipeTokens = {
    prefix: [tok.bosId, ...encodeSegment(tok, renderTemplate(t.prefix))],
    suffix: {
      ebae: [...encodeSegment(tok, renderTemplate(t.ebaeSuffix)), ...ends.ebae],
      ebar: [...encodeSegment(tok, renderTemplate(t.ebarSuffix)), ...ends.ebar],
    },
    readoutCount: { ebae: ends.ebae.length, ebar: ends.ebar.length },
    eos: tok.eosId,
    bos: tok.bosId,
  };
  perRecipe.set(baseVocab, out);
  return out;
}

function textBudget(recipe: Recipe, maxLen: number, fixed: number, what: string): number {
  const budget = maxLen - fixed;
  if (!Number.isInteger(maxLen) || budget < 1) {
    throw new Error(
      `Max length ${maxLen} leaves no room for the ${what} text: the ${recipe.name} prompt alone takes ${fixed} tokens.`,
    );
  }
  return budget;
}

function range(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i);
}

/**
 * Bag-of-words targets of one task: the target text's tokens (optionally stop-word filtered),
 * truncated to maxLen like the released collator (BOS counted when the recipe adds it), without
 * pad/unk, BOS and EOS (the released rule "ids > 2"), as a sorted set when the recipe says unique.
 */
export function bowTargets(recipe: Recipe, tok: TokenizerLike, text: string, opts: LayoutOptions): number[] {
  const spec = recipe.loss?.bow;
  if (!spec) throw new Error(`Recipe "${recipe.name}" has no pretraining loss.`);
  const source = opts.removeStopWords ? removeStopWords(text) : text;
  const ids = tok.encode(source, { addBos: spec.targetsWithBos }).slice(0, opts.maxLen);
  const kept = ids.filter((id) => id > 2 && id !== tok.bosId && id !== tok.eosId);
  return spec.unique ? [...new Set(kept)].sort((a, b) => a - b) : kept;
}

/**
 * The joint EBAE + EBAR pretraining sequence of one row (flag or paper recipe).
 * Throws when the recipe has no pretraining layout (repllama).
 */
export function pretrainLayout(
  recipe: Recipe,
  tok: TokenizerLike,
  row: PretrainRow,
  opts: LayoutOptions,
): Layout {
  if (!recipe.joint || !recipe.loss) {
    throw new Error(`Recipe "${recipe.name}" has no pretraining layout; use flag or paper.`);
  }
  const rt = recipeTokens(recipe, tok, opts.baseVocab);
  const { prefix, suffix } = rt;
  const budget = textBudget(
    recipe,
    opts.maxLen,
    prefix.length + suffix.ebae.length + suffix.ebar.length,
    'input',
  );
  const allText = encodeSegment(tok, renderTemplate(recipe.templates.input, { text: row.input }));
  const text = allText.slice(0, budget);
  const ids = [...prefix, ...text, ...suffix.ebae, ...suffix.ebar];
  const textStart = prefix.length;
  const ebaeStart = textStart + text.length;
  const ebarStart = ebaeStart + suffix.ebae.length;
  const n = ids.length;

  const positionIds = range(0, n);
  if (recipe.joint.ebarReusesPositions) {
    if (suffix.ebar.length > suffix.ebae.length) {
      throw new Error(
        `The ${recipe.name} EBAR suffix (${suffix.ebar.length} tokens) is longer than the EBAE suffix (${suffix.ebae.length}), so it cannot reuse its positions.`,
      );
    }
    for (let k = 0; k < suffix.ebar.length; k++) positionIds[ebarStart + k] = positionIds[ebaeStart + k];
  }

  let arTargets: number[] | null = null;
  if (recipe.loss.ar) {
    arTargets = new Array<number>(n).fill(IGNORE_INDEX);
    // Slot p predicts ids[p + 1]: the slot before each text token (the prefix's last token for the first one).
    for (let p = textStart - 1; p < ebaeStart - 1; p++) arTargets[p] = ids[p + 1];
  }

  return {
    ids,
    positionIds,
    block: recipe.joint.ebarBlindToEbae ? [ebaeStart, ebarStart, ebarStart, n] : null,
    readout: {
      ebae: range(ebarStart - rt.readoutCount.ebae, rt.readoutCount.ebae),
      ebar: range(n - rt.readoutCount.ebar, rt.readoutCount.ebar),
    },
    arTargets,
    bowTargets: {
      ebae: bowTargets(recipe, tok, row.outputSummarize ?? row.input, opts),
      ebar: bowTargets(recipe, tok, row.outputPredict, opts),
    },
    textRange: [textStart, ebaeStart],
    truncated: text.length < allText.length,
  };
}

function inferenceLayout(
  recipe: Recipe,
  tok: TokenizerLike,
  role: 'query' | 'passage',
  rendered: string,
  opts: LayoutOptions,
): Layout {
  const rt = recipeTokens(recipe, tok, opts.baseVocab);
  const task = recipe.inference?.[role];
  const suffix = task ? rt.suffix[task] : [rt.eos];
  const count = task ? rt.readoutCount[task] : 1;
  const budget = textBudget(recipe, opts.maxLen, rt.prefix.length + suffix.length, role);
  const allText = encodeSegment(tok, rendered);
  const text = allText.slice(0, budget);
  const ids = [...rt.prefix, ...text, ...suffix];
  const n = ids.length;
  return {
    ids,
    positionIds: range(0, n),
    block: null,
    readout: { embed: range(n - count, count) },
    arTargets: null,
    bowTargets: {},
    textRange: [rt.prefix.length, rt.prefix.length + text.length],
    truncated: text.length < allText.length,
  };
}

/** A query as the recipe embeds it (flag: `[1,376] + q + EBAR suffix`; repllama: `<s>query: {q}</s>`). */
export function queryLayout(recipe: Recipe, tok: TokenizerLike, query: string, opts: LayoutOptions): Layout {
  return inferenceLayout(recipe, tok, 'query', renderTemplate(recipe.templates.query, { text: query }), opts);
}

/** A passage as the recipe embeds it (flag: `[1,376] + p + EBAE suffix`; repllama: `<s>passage: {title} {text}</s>`). */
export function passageLayout(
  recipe: Recipe,
  tok: TokenizerLike,
  passage: Passage | string,
  opts: LayoutOptions,
): Layout {
  const p = typeof passage === 'string' ? { text: passage } : passage;
  const rendered = renderTemplate(recipe.templates.passage, { text: p.text, title: p.title ?? '' });
  return inferenceLayout(recipe, tok, 'passage', rendered, opts);
}
