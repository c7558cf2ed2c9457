/** Text analysis for BM25: lower-case, runs of letters and digits, optional stop-word removal, no stemming. */

/** Lucene's classic English stop set (`EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`, 33 words). */
export const LUCENE_STOP_WORDS: ReadonlySet<string> = new Set(
  (
    'a an and are as at be but by for if in into is it no not of on or such that the their then there ' +
    'these they this to was will with'
  ).split(' '),
);

// Python's `[^\W_]+`: letters and numbers, not underscore.
const TOKEN = /[\p{L}\p{N}]+/gu;

/**
 * Splits text into lower-case tokens, dropping stop words.
 * @example analyze('The Boundary-layer, 2nd.') // ['boundary', 'layer', '2nd']
 */
export function analyze(text: string, stopWords: ReadonlySet<string> = LUCENE_STOP_WORDS): string[] {
  const tokens = text.toLowerCase().match(TOKEN) ?? [];
  return stopWords.size === 0 ? tokens : tokens.filter((t) => !stopWords.has(t));
}
