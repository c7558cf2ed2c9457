/**
 * `--max-len` checked before any work: too short for the recipe's prompt is one sentence with the
 * prompt's length (the layouts would otherwise throw at the first batch, after outputs were started);
 * longer than the positions the model was trained on is a warning (RoPE extrapolates, quality drops).
 */
import { passageLayout, pretrainLayout, queryLayout } from '@llara/trainer';
import { UserError } from './errors.ts';
import type { LoadedModel } from './model-loader.ts';

export type MaxLenUse = 'query' | 'passage' | 'pretrain';

/** Throws a UserError naming `flag` when `maxLen` leaves no room for text in one of `uses`. */
export function checkMaxLen(
  loaded: LoadedModel,
  maxLen: number,
  uses: MaxLenUse[],
  flag = '--max-len',
): void {
  const { recipe, tokenizer, baseVocab } = loaded;
  const opts = { maxLen, baseVocab };
  for (const use of uses) {
    try {
      if (use === 'query') queryLayout(recipe, tokenizer, '', opts);
      else if (use === 'passage') passageLayout(recipe, tokenizer, { text: '' }, opts);
      else pretrainLayout(recipe, tokenizer, { input: '', outputPredict: '' }, opts);
    } catch (e) {
      const m = (e as Error).message;
      throw new UserError(m.startsWith('Max length') ? m.replace(/^Max length/, flag) : m);
    }
  }
  warnBeyondPositions(loaded, maxLen, flag);
}

/** A note on stderr when sequences may run past the model's trained positions. */
export function warnBeyondPositions(loaded: LoadedModel, length: number, what: string): void {
  const n = loaded.opened.config.maxPositionEmbeddings;
  if (n > 0 && length > n)
    process.stderr.write(
      `note: ${what} ${length} is beyond the ${n} positions the model was trained on; RoPE extrapolates past them and quality usually drops.\n`,
    );
}
