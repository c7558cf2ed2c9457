/**
 * Exact inner-product search on the CPU: every stored vector is scored against every query.
 * Rows are scanned in blocks so that f16 rows are decoded once per block and reused by all queries;
 * each query keeps its best k in a bounded heap (O(n log k)).
 */
import type { SearchHit } from './ranking.ts';
import { TopK } from './top-k.ts';
import type { VectorDType, VectorIndex } from './vector-index.ts';
import { checkRows, VectorStore } from './vector-store.ts';

const BLOCK_ROWS = 256;

/** Inner product of `a[aOff..aOff+d)` and `b[bOff..bOff+d)`, accumulated in f64 and rounded to f32. */
export function dot(a: Float32Array, aOff: number, b: Float32Array, bOff: number, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < d; i += 4) {
    s0 += a[aOff + i] * b[bOff + i];
    s1 += a[aOff + i + 1] * b[bOff + i + 1];
    s2 += a[aOff + i + 2] * b[bOff + i + 2];
    s3 += a[aOff + i + 3] * b[bOff + i + 3];
  }
  for (; i < d; i++) s0 += a[aOff + i] * b[bOff + i];
  return Math.fround(s0 + s1 + s2 + s3);
}

/** Checks a search call's arguments; returns the number of queries. */
export function checkSearch(queries: Float32Array, dims: number, k: number): number {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}.`);
  return checkRows(queries, dims, 'The queries');
}

/** Scores every row of `store` against every query, feeding each query's TopK. */
export function scanStore(store: VectorStore, queries: Float32Array, tops: TopK[]): void {
  const d = store.dims;
  const ids = store.ids;
  const scratch = new Float32Array(store.dtype === 'f16' ? BLOCK_ROWS * d : 0);
  for (let start = 0; start < store.size; start += BLOCK_ROWS) {
    const end = Math.min(start + BLOCK_ROWS, store.size);
    const rows = store.rowsF32(start, end, scratch);
    for (let q = 0; q < tops.length; q++) {
      const top = tops[q];
      for (let r = 0; r < end - start; r++) {
        const score = dot(queries, q * d, rows, r * d, d);
        if (score >= top.threshold) top.push(ids[start + r], score);
      }
    }
  }
}

export interface FlatIndexOptions {
  /** Storage precision (default 'f32'). */
  dtype?: VectorDType;
}

/**
 * @example
 * const index = new FlatIndex(3);
 * index.add(['a', 'b'], new Float32Array([1, 0, 0, 0, 1, 0]));
 * await index.search(new Float32Array([0.9, 0.1, 0]), 1); // [[{ id: 'a', score: 0.9 }]]
 */
export class FlatIndex implements VectorIndex {
  readonly store: VectorStore;

  constructor(dims: number, options: FlatIndexOptions = {}) {
    this.store = new VectorStore(dims, options.dtype ?? 'f32');
  }

  get dims(): number {
    return this.store.dims;
  }

  get dtype(): VectorDType {
    return this.store.dtype;
  }

  get size(): number {
    return this.store.size;
  }

  /** Ids in storage order (changes when vectors are removed). */
  get ids(): readonly string[] {
    return this.store.ids;
  }

  has(id: string): boolean {
    return this.store.has(id);
  }

  /** A stored vector as f32 (f16 storage is decoded), or undefined. */
  get(id: string): Float32Array | undefined {
    return this.store.get(id);
  }

  add(ids: readonly string[], vectors: Float32Array): void {
    this.store.add(ids, vectors);
  }

  remove(ids: readonly string[]): number {
    return this.store.remove(ids);
  }

  /** Synchronous search, for callers that need no GPU-shaped API. */
  searchSync(queries: Float32Array, k: number): SearchHit[][] {
    const nq = checkSearch(queries, this.dims, k);
    const tops = Array.from({ length: nq }, () => new TopK(k));
    scanStore(this.store, queries, tops);
    return tops.map((t) => t.sorted());
  }

  async search(queries: Float32Array, k: number): Promise<SearchHit[][]> {
    return this.searchSync(queries, k);
  }
}
