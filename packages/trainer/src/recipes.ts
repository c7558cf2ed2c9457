/**
 * The three supported recipes as data: prompt templates, special tokens, padding side, pooling, loss
 * parts and default hyper-parameters, all in one place (see shared LLARA.md for the method).
 *
 * Templates are Jinja (rendered with `@huggingface/jinja`). Each template renders ONE segment that is
 * tokenised on its own, without BOS, and the segments' ids are concatenated: that is how the released
 * code builds `[1, 376] + text_ids + suffix_ids` (prefix, text and suffix are tokenised separately,
 * so the tokenizer's own leading-space rule applies to each). BOS, EOS and the 8 special tokens of a
 * task are inserted as ids, never through text.
 *
 * @example
 * const flag = getRecipe('flag');
 * flag.templates.ebaeSuffix; // '", summarize the above passage within eight words: '
 * flagSpecialIds(512).ebae;  // [520, 523, 516, 525, 519, 517, 514, 526]
 */

export type RecipeName = 'paper' | 'flag' | 'repllama';

/** The task whose prompt a sequence carries: EBAE (reconstruct itself) or EBAR (predict the next passage). */
export type Task = 'ebae' | 'ebar';

export interface RecipeTemplates {
  /** Fixed text right after BOS (flag: `"`; empty renders nothing). */
  prefix: string;
  /** A query, rendered with `{ text }`. */
  query: string;
  /** A passage, rendered with `{ text, title }`; title may be empty. */
  passage: string;
  /** A pretraining input, rendered with `{ text }`. */
  input: string;
  /** EBAE prompt after the text, before the task's end tokens. */
  ebaeSuffix: string;
  /** EBAR prompt after the text, before the task's end tokens. */
  ebarSuffix: string;
}

export interface LoraDefaults {
  r: number;
  alpha: number;
  dropout: number;
  /** PEFT module names. */
  targets: string[];
}

export interface BowLossSpec {
  /** How the logits of a task's read-out positions become one vector: max over positions (flag) or the single position (paper). */
  pool: 'max' | 'single';
  /** Targets as a set (flag: `torch.unique`) or as the token multiset of the target text (paper). */
  unique: boolean;
  /** Multiplies each task's loss (flag: 1/10). */
  scale: number;
  /** Whether the target text is tokenised with BOS before filtering (flag: yes, then ids <= 2 are dropped). */
  targetsWithBos: boolean;
  /** How the two tasks combine: flag averages them, paper adds them. */
  combine: 'mean' | 'sum';
}

export interface PretrainDefaults {
  maxLen: number;
  lr: number;
  batch: number;
  steps: number;
  warmupRatio: number;
  removeStopWords: boolean;
}

export interface FinetuneDefaults {
  tau: number;
  groupSize: number;
  queryMaxLen: number;
  passageMaxLen: number;
  lr: number;
  epochs: number;
  warmupRatio: number;
  inBatchNegatives: boolean;
}

export interface Recipe {
  name: RecipeName;
  /** One line for `--help`. */
  description: string;
  templates: RecipeTemplates;
  /**
   * What closes each task's prompt and is read out: 8 added special tokens (flag), or EOS (paper,
   * repllama). With 'specials', `specialTokens` gives the released ids.
   */
  taskEnd: 'specials' | 'eos';
  /** Released ids (LLaMA-2 vocabulary of 32000) of `<s1>..<s8>` (ebae) and `<s9>..<s16>` (ebar); null when unused. */
  specialTokens: { names: string[]; ebae: number[]; ebar: number[] } | null;
  /** Which task prompt encodes a query / a passage at inference; null = the plain query/passage template ending in EOS. */
  inference: { query: Task; passage: Task } | null;
  /** Joint pretraining pass: EBAR suffix rows blind to EBAE suffix columns, EBAR positions reused from EBAE. */
  joint: { ebarBlindToEbae: boolean; ebarReusesPositions: boolean } | null;
  /** Left puts the read-out tokens in the last slots of every row (flag, as released). */
  paddingSide: 'left' | 'right';
  /** Pad id; LLaMA has no pad token and the released code pads with unk (0). */
  padId: number;
  /** The released inference code pads rows to a multiple of this. */
  padToMultipleOf: number;
  /**
   * Embedding = mean of the final hidden states at the read-out positions, L2-normalised: the 8 special
   * tokens (flag) or the single closing `</s>` (paper, repllama).
   */
  pooling: 'mean-specials' | 'eos';
  /** Pretraining loss parts; null for recipes that are not pretrained (repllama). */
  loss: { bow: BowLossSpec; ar: boolean } | null;
  pretrain: PretrainDefaults | null;
  finetune: FinetuneDefaults;
  lora: LoraDefaults;
}

const LLARA_LORA: LoraDefaults = {
  r: 64,
  alpha: 16,
  dropout: 0.1,
  targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
};

/** Paper pretraining (secondary sources): LLaMA-2-7B, 10,000 steps, batch 256, length 1024, lr 1e-5. */
const LLARA_PRETRAIN: PretrainDefaults = {
  maxLen: 1024,
  lr: 1e-5,
  batch: 256,
  steps: 10_000,
  warmupRatio: 0.1,
  removeStopWords: false,
};

/** Released fine-tuning command (FlagEmbedding research/LLARA README). */
const LLARA_FINETUNE: FinetuneDefaults = {
  tau: 0.01,
  groupSize: 16,
  queryMaxLen: 64,
  passageMaxLen: 160,
  lr: 3e-4,
  epochs: 1,
  warmupRatio: 0.1,
  inBatchNegatives: true,
};

/** A passage with an optional title, as BEIR evaluations of LLaRA and RepLLaMA feed it. */
const TITLE_TEXT = "{{ title ~ ' ' ~ text if title else text }}";

const RECIPES: Record<RecipeName, Recipe> = {
  flag: {
    name: 'flag',
    description:
      "BAAI's released LLaRA code: 16 special tokens, joint EBAE/EBAR pass, max-pooled bag-of-words + AR loss.",
    templates: {
      prefix: '"',
      query: '{{ text }}',
      passage: TITLE_TEXT,
      input: '{{ text }}',
      ebaeSuffix: '", summarize the above passage within eight words: ',
      ebarSuffix: '", predict the following passage within eight words: ',
    },
    taskEnd: 'specials',
    specialTokens: {
      names: Array.from({ length: 16 }, (_, i) => `<s${i + 1}>`),
      ebae: [32008, 32011, 32004, 32013, 32007, 32005, 32002, 32014],
      ebar: [32000, 32009, 32012, 32001, 32010, 32003, 32006, 32015],
    },
    inference: { query: 'ebar', passage: 'ebae' },
    joint: { ebarBlindToEbae: true, ebarReusesPositions: true },
    paddingSide: 'left',
    padId: 0,
    padToMultipleOf: 8,
    pooling: 'mean-specials',
    loss: {
      bow: { pool: 'max', unique: true, scale: 0.1, targetsWithBos: true, combine: 'mean' },
      ar: true,
    },
    pretrain: LLARA_PRETRAIN,
    finetune: LLARA_FINETUNE,
    lora: LLARA_LORA,
  },
  paper: {
    name: 'paper',
    description:
      'LLaRA as the arXiv text describes it: `<s> {text} SELF </s> NEXT </s>`, embeddings at each `</s>`.',
    templates: {
      prefix: '',
      query: '{{ text }}',
      passage: TITLE_TEXT,
      input: '{{ text }}',
      // The text before `</s>` in `{text} The original sentence: </s>`; the trailing space is kept so a
      // SentencePiece tokenizer emits its lone space piece, as with the flag suffixes.
      ebaeSuffix: 'The original sentence: ',
      ebarSuffix: 'The next sentence: ',
    },
    taskEnd: 'eos',
    specialTokens: null,
    inference: { query: 'ebar', passage: 'ebae' },
    // LLaRA.md gives the paper layout as a plain causal sequence: NEXT sees SELF, positions run on.
    joint: { ebarBlindToEbae: false, ebarReusesPositions: false },
    paddingSide: 'left',
    padId: 0,
    padToMultipleOf: 8,
    pooling: 'eos',
    loss: {
      bow: { pool: 'single', unique: false, scale: 1, targetsWithBos: false, combine: 'sum' },
      ar: false,
    },
    pretrain: LLARA_PRETRAIN,
    finetune: LLARA_FINETUNE,
    lora: LLARA_LORA,
  },
  repllama: {
    name: 'repllama',
    description:
      'RepLLaMA baseline: `<s>query: {q}</s>` / `<s>passage: {title} {text}</s>`, last-token embedding.',
    templates: {
      prefix: '',
      query: 'query: {{ text }}',
      passage: `passage: ${TITLE_TEXT}`,
      input: '{{ text }}',
      ebaeSuffix: '',
      ebarSuffix: '',
    },
    taskEnd: 'eos',
    specialTokens: null,
    inference: null,
    joint: null,
    paddingSide: 'right',
    padId: 0,
    padToMultipleOf: 1,
    pooling: 'eos',
    loss: null,
    pretrain: null,
    finetune: {
      tau: 0.01,
      groupSize: 16,
      queryMaxLen: 32,
      passageMaxLen: 160,
      lr: 1e-4,
      epochs: 1,
      warmupRatio: 0.1,
      inBatchNegatives: true,
    },
    lora: {
      r: 32,
      alpha: 64,
      dropout: 0.1,
      targets: ['q_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    },
  },
};

// Recipes are shared: freeze them so a caller customises a copy (`{ ...getRecipe('flag'), ... }`).
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
deepFreeze(RECIPES);

export const RECIPE_NAMES: readonly RecipeName[] = ['flag', 'paper', 'repllama'];

/** The recipe called `name`; throws one sentence listing the valid names otherwise. */
export function getRecipe(name: string): Recipe {
  if (!Object.hasOwn(RECIPES, name)) {
    throw new Error(`Unknown recipe "${name}"; valid recipes are ${RECIPE_NAMES.join(', ')}.`);
  }
  return RECIPES[name as RecipeName];
}

/** The released id of the first special token; ids above it are offsets into the 16 added rows. */
export const RELEASED_BASE_VOCAB = 32000;

/**
 * The flag recipe's special ids for a base vocabulary of `baseVocab` tokens: V + (released id - 32000),
 * so LLaMA-2 (32000) gets the released ids and a 512-token vocabulary gets 512..527 in the same order.
 */
export function flagSpecialIds(
  baseVocab: number,
  recipe: Recipe = RECIPES.flag,
): { ebae: number[]; ebar: number[] } {
  if (!recipe.specialTokens) throw new Error(`Recipe "${recipe.name}" has no special tokens.`);
  const map = (id: number) => baseVocab + (id - RELEASED_BASE_VOCAB);
  return { ebae: recipe.specialTokens.ebae.map(map), ebar: recipe.specialTokens.ebar.map(map) };
}

/**
 * How many embedding (and LM-head) rows a model needs appended for `recipe`: none when the recipe has
 * no special tokens or the tokenizer already knows them all (released LLaRA checkpoints, merged
 * exports); otherwise one mean-initialised row per token.
 */
export function specialTokensToAppend(
  recipe: Recipe,
  tokenizer: { tokenToId?(token: string): number | undefined },
): number {
  const names = recipe.specialTokens?.names;
  if (!names) return 0;
  return names.every((n) => tokenizer.tokenToId?.(n) !== undefined) ? 0 : names.length;
}
