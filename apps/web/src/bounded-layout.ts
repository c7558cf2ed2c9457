/**
 * A text's layout at a token limit without tokenizing all of it. Tokenizing runs on the page's main
 * thread at roughly 30 µs per character, so a 100,000-character document would freeze the page for
 * seconds only to keep its first hundred tokens. A long text is cut, at a space, to a head that holds the
 * limit plus a margin of tokens; the head's first tokens are the whole text's (a cut only changes the
 * tokens around it), and its layout says the text was truncated.
 *
 * @example
 * const layout = boundedLayout(text, 128, (t) => embedder.layout(t, 'passage'), (t) => tok.encode(t, { addBos: false }).length);
 */
import type { Layout } from '@llara/trainer';

/** Tokens beyond the limit that the head must hold, so that the cut is far from the tokens kept. */
const MARGIN_TOKENS = 32;
/** First head: this many characters per token allowed (doubled until the head is long enough). */
const CHARS_PER_TOKEN = 8;

export function boundedLayout(
  text: string,
  maxLen: number,
  layout: (text: string) => Layout,
  countTokens: (text: string) => number,
): Layout {
  const need = maxLen + MARGIN_TOKENS;
  // Only worth it when the text is several heads long: the head is tokenized twice.
  for (let chars = need * CHARS_PER_TOKEN; chars * 4 < text.length; chars *= 2) {
    const head = headOf(text, chars);
    if (countTokens(head) >= need) return layout(head);
  }
  return layout(text);
}

/** The first `chars` characters, cut back to the last space when one is near, never inside a surrogate pair. */
function headOf(text: string, chars: number): string {
  let end = chars;
  const space = text.lastIndexOf(' ', end);
  if (space > chars / 2) end = space;
  else if (/[\uD800-\uDBFF]/.test(text[end - 1])) end--;
  return text.slice(0, end);
}
