/**
 * The contract every vector index implements (CPU flat, IVF, and the GPU exact index built on the same API).
 * Scores are inner products; results follow the package's ranking rule (score desc, then id desc).
 */
import type { SearchHit } from './ranking.ts';

/** How vectors are stored: f16 halves memory; scores are always computed in f32 or better. */
export type VectorDType = 'f32' | 'f16';

export interface VectorIndex {
  /** Vector length. */
  readonly dims: number;
  /** Number of vectors held. */
  readonly size: number;
  /** Adds `ids.length` vectors, row-major in `vectors` (`[ids.length, dims]`). Ids must be new. */
  add(ids: readonly string[], vectors: Float32Array): void;
  /** Removes the given ids (unknown ids are ignored); returns how many were removed. */
  remove(ids: readonly string[]): number;
  /**
   * The `k` best vectors by inner product for each of the `queries.length / dims` queries (row-major).
   * Returns all vectors, ranked, when `k` exceeds `size`. Async so that GPU backends fit the same shape.
   */
  search(queries: Float32Array, k: number): Promise<SearchHit[][]>;
}
