/** The page's elements, found by their `data-testid` (the same hooks the browser test uses). */
export function byTestId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.querySelector<T>(`[data-testid="${id}"]`);
  if (!el) throw new Error(`The page has no element with data-testid="${id}".`);
  return el;
}

/** "1,234 ms" with one decimal below 10 ms, so small timings stay readable. */
export function formatMs(ms: number): string {
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms).toLocaleString('en-US')} ms`;
}

/**
 * Any thrown value as the text shown to the user: the whole message on one line (a message can hold line
 * breaks, e.g. a parser quoting its input, and cutting at the first one cut sentences in half).
 */
export function errorMessage(e: unknown): string {
  const text = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').trim();
  return text === '' ? 'Something went wrong.' : text;
}
