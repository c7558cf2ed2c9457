/**
 * What was cut at the token limit, and the sentence the page shows for it. Shared by the model worker,
 * which measures it, and the page, which says it.
 *
 * @example
 * describeTruncation({ count: 2, keptTokens: 86, maxLen: 128 }, 6, 'document');
 * // "2 of 6 documents were longer than the 128-token limit (prompt included) and were cut to their first 86 tokens."
 */

/** Texts cut at the token limit: how many, and how many text tokens each kept (prompt excluded). */
export interface Truncation {
  count: number;
  keptTokens: number;
  /** The max-length setting the texts were cut to fit, prompt included. */
  maxLen: number;
}

/** "2 of 6 documents were longer than the 128-token limit and were cut to their first 86 tokens." or null. */
export function describeTruncation(
  cut: Truncation,
  total: number,
  noun: 'document' | 'query',
): string | null {
  if (cut.count === 0) return null;
  const limit = `the ${cut.maxLen}-token limit (prompt included)`;
  if (noun === 'query')
    return `The query is longer than ${limit}: only its first ${cut.keptTokens} tokens were searched.`;
  const one = cut.count === 1;
  const which = total === 1 ? 'The document' : `${cut.count} of ${total} documents`;
  return `${which} ${one ? 'was' : 'were'} longer than ${limit} and ${one ? 'was' : 'were'} cut to ${one ? 'its' : 'their'} first ${cut.keptTokens} tokens.`;
}
