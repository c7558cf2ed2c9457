/**
 * Embedded documents in an exact inner-product index, searched with embedded queries. Vectors are
 * L2-normalised, so a score is the cosine similarity. Building stops between batches when its signal
 * aborts (the documents or the model changed), and both building and searching report what was cut at
 * the token limit.
 *
 * @example
 * const search = await DocumentSearch.build(embedder, { ids: ['a'], texts: ['wings'] }, { signal });
 * const { hits, cut } = await search.search('lift of a wing', 10);
 */
import { FlatIndex } from '@llara/index';
import { type Embedder, type EmbedProgress, type Layout, type Role, sortByLength } from '@llara/trainer';
import { boundedLayout } from './bounded-layout.ts';
import type { Documents } from './documents.ts';
import type { Truncation } from './truncation.ts';

export interface Hit {
  id: string;
  text: string;
  score: number;
}

export interface BuildOptions {
  signal?: AbortSignal;
  onProgress?: (p: EmbedProgress) => void;
}

export class DocumentSearch {
  private readonly textOf = new Map<string, string>();

  private constructor(
    readonly embedder: Embedder,
    readonly index: FlatIndex,
    docs: Documents,
    /** Wall time of embedding every document, ms. */
    readonly embedMs: number,
    /** Tokens the model ran over (prompts included). */
    readonly tokens: number,
    /** Documents longer than the token limit. */
    readonly cut: Truncation,
  ) {
    for (let i = 0; i < docs.ids.length; i++) this.textOf.set(docs.ids[i], docs.texts[i]);
  }

  /** Embeds every document; throws an AbortError (and keeps nothing) when `signal` aborts. */
  static async build(
    embedder: Embedder,
    docs: Documents,
    options: BuildOptions = {},
  ): Promise<DocumentSearch> {
    if (docs.ids.length === 0) throw new Error('There are no documents to embed: type some, one per line.');
    const t0 = performance.now();
    const layouts = docs.texts.map((t) => layoutOf(embedder, t, 'passage'));
    const cut = truncation(embedder, layouts);
    // The Embedder's own loop, batch by batch, so that a stale run stops at the next batch.
    const H = embedder.dim;
    const vectors = new Float32Array(docs.ids.length * H);
    const { order } = sortByLength(layouts.map((l) => l.ids.length));
    const size = embedder.options.batchSize ?? 16;
    let tokens = 0;
    for (let start = 0; start < order.length; start += size) {
      options.signal?.throwIfAborted();
      const idx = order.slice(start, start + size);
      const rows = await embedder.embedLayouts(idx.map((i) => layouts[i]));
      idx.forEach((item, r) => {
        vectors.set(rows.subarray(r * H, (r + 1) * H), item * H);
        tokens += layouts[item].ids.length;
      });
      options.signal?.throwIfAborted();
      options.onProgress?.({ done: Math.min(start + size, order.length), total: order.length, tokens });
    }
    const index = new FlatIndex(H);
    index.add(docs.ids, vectors);
    return new DocumentSearch(embedder, index, docs, performance.now() - t0, tokens, cut);
  }

  get size(): number {
    return this.index.size;
  }

  /** The best `k` documents for `query`, best first, the time it took (embedding included), and whether the query was cut. */
  async search(query: string, k: number): Promise<{ hits: Hit[]; ms: number; cut: Truncation }> {
    const t0 = performance.now();
    const layout = layoutOf(this.embedder, query, 'query');
    const vector = await this.embedder.embedLayouts([layout]);
    const [hits] = this.index.searchSync(vector, k);
    const ms = performance.now() - t0;
    return {
      hits: hits.map((h) => ({ id: h.id, text: this.textOf.get(h.id) ?? '', score: h.score })),
      ms,
      cut: truncation(this.embedder, [layout]),
    };
  }
}

/** The embedder's layout, tokenizing only a head of a very long text. */
function layoutOf(embedder: Embedder, text: string, role: Role): Layout {
  return boundedLayout(
    text,
    embedder.options.maxLen,
    (t) => embedder.layout(t, role),
    (t) => embedder.tokenizer.encode(t, { addBos: false }).length,
  );
}

function truncation(
  embedder: Embedder,
  layouts: { truncated: boolean; textRange: [number, number] }[],
): Truncation {
  const cut = layouts.filter((l) => l.truncated);
  return {
    count: cut.length,
    keptTokens: cut.length > 0 ? cut[0].textRange[1] - cut[0].textRange[0] : 0,
    maxLen: embedder.options.maxLen,
  };
}
