/**
 * Embedded documents in an exact inner-product index, searched with embedded queries. Vectors are
 * L2-normalised, so a score is the cosine similarity.
 *
 * @example
 * const search = await DocumentSearch.build(embedder, { ids: ['a'], texts: ['wings'] });
 * const { hits } = await search.search('lift of a wing', 10);
 */
import { FlatIndex } from '@llara/index';
import type { Embedder, EmbedProgress } from '@llara/trainer';
import type { Documents } from './documents.ts';

export interface Hit {
  id: string;
  text: string;
  score: number;
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
  ) {
    for (let i = 0; i < docs.ids.length; i++) this.textOf.set(docs.ids[i], docs.texts[i]);
  }

  static async build(
    embedder: Embedder,
    docs: Documents,
    onProgress?: (p: EmbedProgress) => void,
  ): Promise<DocumentSearch> {
    if (docs.ids.length === 0) throw new Error('There are no documents to embed: type some, one per line.');
    const t0 = performance.now();
    let tokens = 0;
    const vectors = await embedder.embed(docs.texts, 'passage', (p) => {
      tokens = p.tokens;
      onProgress?.(p);
    });
    const index = new FlatIndex(embedder.dim);
    index.add(docs.ids, vectors);
    return new DocumentSearch(embedder, index, docs, performance.now() - t0, tokens);
  }

  get size(): number {
    return this.index.size;
  }

  /** The best `k` documents for `query`, best first, and the time it took (embedding included). */
  async search(query: string, k: number): Promise<{ hits: Hit[]; ms: number }> {
    const t0 = performance.now();
    const vector = await this.embedder.embed([query], 'query');
    const [hits] = this.index.searchSync(vector, k);
    const ms = performance.now() - t0;
    return { hits: hits.map((h) => ({ id: h.id, text: this.textOf.get(h.id) ?? '', score: h.score })), ms };
  }
}
