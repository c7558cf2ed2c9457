/**
 * Okapi BM25 over an in-memory inverted index, as data/cranfield/README.md defines the baseline:
 * score(q, d) = sum over query tokens (repeats included) of idf · tf·(k1+1) / (tf + k1·(1 − b + b·|d|/avgdl)),
 * idf = ln(1 + (N − df + 0.5)/(df + 0.5)), |d| = the document's token count after analysis.
 */
import { analyze, LUCENE_STOP_WORDS } from './analyzer.ts';
import { type BeirDoc, type BeirQuery, documentText } from './beir.ts';
import type { Run } from './metrics.ts';
import type { SearchHit } from './ranking.ts';
import { TopK } from './top-k.ts';

export interface Bm25Options {
  /** Term-frequency saturation (default 0.9). */
  k1?: number;
  /** Length normalisation (default 0.4). */
  b?: number;
  /** Words dropped from documents and queries (default Lucene's 33 English stop words; pass an empty set for none). */
  stopWords?: ReadonlySet<string>;
}

interface Postings {
  docs: number[];
  tfs: number[];
}

/**
 * A BM25 index over documents given as (id, text).
 * @example
 * const bm25 = Bm25Index.fromBeir(corpus);
 * bm25.search('heat conduction in composite slabs', 10); // [{ id: '485', score: 17.2 }, ...]
 */
export class Bm25Index {
  readonly k1: number;
  readonly b: number;
  readonly stopWords: ReadonlySet<string>;
  private readonly ids: string[] = [];
  private readonly lengths: number[] = [];
  private readonly postings = new Map<string, Postings>();
  private totalLength = 0;

  constructor(options: Bm25Options = {}) {
    this.k1 = options.k1 ?? 0.9;
    this.b = options.b ?? 0.4;
    this.stopWords = options.stopWords ?? LUCENE_STOP_WORDS;
  }

  /** Indexes BEIR documents as `title + " " + text`. */
  static fromBeir(corpus: readonly BeirDoc[], options: Bm25Options = {}): Bm25Index {
    const index = new Bm25Index(options);
    for (const doc of corpus) index.add(doc.id, documentText(doc));
    return index;
  }

  /** Number of documents. */
  get size(): number {
    return this.ids.length;
  }

  /** Adds one document. Ids are not checked for uniqueness (BEIR loaders already reject repeats). */
  add(id: string, text: string): void {
    const doc = this.ids.length;
    const tokens = analyze(text, this.stopWords);
    const counts = new Map<string, number>();
    for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
    for (const [term, tf] of counts) {
      let p = this.postings.get(term);
      if (!p) {
        p = { docs: [], tfs: [] };
        this.postings.set(term, p);
      }
      p.docs.push(doc);
      p.tfs.push(tf);
    }
    this.ids.push(id);
    this.lengths.push(tokens.length);
    this.totalLength += tokens.length;
  }

  /** idf = ln(1 + (N − df + 0.5)/(df + 0.5)); 0 for a term no document has. */
  idf(term: string): number {
    const df = this.postings.get(term)?.docs.length ?? 0;
    if (df === 0) return 0;
    return Math.log(1 + (this.size - df + 0.5) / (df + 0.5));
  }

  /** Scores of every document sharing at least one term with the query, by internal document number. */
  scoreAll(query: string): Map<number, number> {
    const scores = new Map<number, number>();
    const avgdl = this.size > 0 ? this.totalLength / this.size : 0;
    for (const term of analyze(query, this.stopWords)) {
      const p = this.postings.get(term);
      if (!p) continue;
      const idf = this.idf(term);
      for (let i = 0; i < p.docs.length; i++) {
        const tf = p.tfs[i];
        const norm = avgdl > 0 ? this.lengths[p.docs[i]] / avgdl : 0;
        const s = (idf * tf * (this.k1 + 1)) / (tf + this.k1 * (1 - this.b + this.b * norm));
        scores.set(p.docs[i], (scores.get(p.docs[i]) ?? 0) + s);
      }
    }
    return scores;
  }

  /** The top `k` documents for a query (score desc, ties by id desc), among those sharing a term with it. */
  search(query: string, k = 1000): SearchHit[] {
    const top = new TopK(k);
    for (const [doc, score] of this.scoreAll(query)) top.push(this.ids[doc], score);
    return top.sorted();
  }

  /** A run over many queries: query id -> top `k` (document id -> score). */
  run(queries: readonly BeirQuery[], k = 1000): Run {
    const run: Run = new Map();
    for (const q of queries) run.set(q.id, new Map(this.search(q.text, k).map((h) => [h.id, h.score])));
    return run;
  }
}
