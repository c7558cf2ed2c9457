/**
 * The page's documents as pretraining rows, the way `pnpm demo` makes them from a corpus: each
 * document's first sentence is the input (and the EBAE target), the rest of it the EBAR target. When no
 * document has two sentences (one-line pasted notes), consecutive documents pair up instead.
 *
 * @example
 * documentsToRows(['Wings lift. Air flows over them.']); // [{ input: 'Wings lift.', outputPredict: 'Air flows over them.', ... }]
 */
import { beirToPretrainRows, type PretrainRow } from '@llara/trainer';

export function documentsToRows(texts: readonly string[]): PretrainRow[] {
  const docs = texts.map((text, i) => ({ id: String(i), title: '', text }));
  const rows = beirToPretrainRows(docs, 'first-sentence');
  if (rows.length > 0) return rows;
  const pairs = beirToPretrainRows(docs, 'consecutive');
  if (pairs.length > 0) return pairs;
  throw new Error(
    'There is nothing to train on: give at least one document of two sentences, or two documents.',
  );
}
