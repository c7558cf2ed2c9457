/**
 * The one ranking rule used everywhere in this package (trec_eval's `comp_sim_docno`):
 * higher score first; equal scores are ordered by document id DESCENDING, comparing ids as
 * C `strcmp` does on UTF-8 bytes (which is Unicode code point order). A run's rank column is never used.
 */

/** A scored document, as search results and runs carry it. */
export interface SearchHit {
  id: string;
  score: number;
}

/**
 * Compares two ids in UTF-8 byte order (what `strcmp` sees), returning <0, 0 or >0.
 * JS `<` compares UTF-16 code units, which disagrees with byte order for astral characters versus
 * U+E000..U+FFFF, so surrogates are shifted above the rest of the BMP before comparing.
 */
export function compareIds(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 || y >= 0xd800) {
      x = fixupSurrogate(x);
      y = fixupSurrogate(y);
    }
    return x - y;
  }
  return a.length - b.length;
}

function fixupSurrogate(c: number): number {
  if (c >= 0xe000) return c - 0x800;
  if (c >= 0xd800) return c + 0x2000;
  return c;
}

/** Sort comparator for hits: score descending, then id descending (trec_eval's tie rule). */
export function compareHits(a: SearchHit, b: SearchHit): number {
  if (a.score !== b.score) return a.score > b.score ? -1 : 1;
  return compareIds(b.id, a.id);
}

/**
 * Orders one query's scored documents the way trec_eval does, returning ids best first.
 * trec_eval stores scores as C `float`, so scores are rounded to float32 before comparing: two scores
 * that differ only beyond float32 precision tie and fall back to the id rule.
 *
 * @example rankDocuments(new Map([['d1', 0.5], ['d2', 0.5], ['d3', 0.9]])) // ['d3', 'd2', 'd1']
 */
export function rankDocuments(scores: ReadonlyMap<string, number>): string[] {
  const hits: SearchHit[] = [];
  for (const [id, score] of scores) hits.push({ id, score: Math.fround(score) });
  hits.sort(compareHits);
  return hits.map((h) => h.id);
}
