/**
 * IVF-Flat: vectors are grouped by their nearest k-means centroid (inner product, spherical); a search
 * scores only the `nprobe` lists whose centroids best match the query. nprobe = nlist is exact.
 *
 * Training and list assignment run on the CPU (`train`, `add`) or with their O(n k d) part on a GPU
 * (`trainOnGpu`, `addOnGpu`, `buildOnGpu`); both give the same centroids and lists. Search is on the CPU.
 */
import type { Gpu } from '@llara/gpu';
import { checkSearch, dot, scanStore } from './flat-index.ts';
import {
  type KMeansInit,
  type KMeansOptions,
  type KMeansResult,
  kmeans,
  nearestCentroids,
} from './kmeans.ts';
import { kmeansOnGpu, nearestCentroidsOnGpu } from './kmeans-gpu.ts';
import type { SearchHit } from './ranking.ts';
import { TopK } from './top-k.ts';
import type { VectorDType, VectorIndex } from './vector-index.ts';
import { checkDims, checkRows, VectorStore } from './vector-store.ts';

export interface IvfOptions {
  /** Number of lists (k-means centroids). */
  nlist: number;
  /** Lists scanned per query (default 1); can be overridden per search. */
  nprobe?: number;
  /** Storage precision (default 'f32'). */
  dtype?: VectorDType;
  /** k-means seed (default 0). */
  seed?: number;
  /** k-means iterations (default 20). */
  iterations?: number;
  /** k-means initialisation (default: see `KMeansOptions.init`; 'random' for large nlist). */
  init?: KMeansInit;
  /** k-means progress (see `KMeansOptions.onIteration`). */
  onIteration?: KMeansOptions['onIteration'];
}

/** A trained IVF index as arrays: what `saveIndex` writes and `IvfIndex.fromParts` reads. */
export interface IvfParts {
  /** `[nlist, dims]` f32. */
  centroids: Float32Array;
  /** Per list: its ids and their stored values (`ids.length * dims`, f32 or f16 bits), row-major. */
  lists: { ids: readonly string[]; raw: Float32Array | Uint16Array }[];
}

/**
 * @example
 * const ivf = IvfIndex.build(ids, vectors, 768, { nlist: 256, nprobe: 16 });
 * const hits = await ivf.search(queryVectors, 10);
 */
export class IvfIndex implements VectorIndex {
  readonly nlist: number;
  nprobe: number;
  private centroids: Float32Array | undefined;
  private readonly lists: VectorStore[];
  private readonly listOf = new Map<string, number>();

  constructor(
    readonly dims: number,
    private readonly options: IvfOptions,
  ) {
    checkDims(dims);
    this.nlist = options.nlist;
    if (!Number.isInteger(this.nlist) || this.nlist < 1)
      throw new RangeError(`nlist must be a positive integer, got ${this.nlist}.`);
    this.nprobe = options.nprobe ?? 1;
    this.lists = Array.from({ length: this.nlist }, () => new VectorStore(dims, options.dtype ?? 'f32'));
  }

  /** Trains on `vectors` and adds them under `ids`. */
  static build(ids: readonly string[], vectors: Float32Array, dims: number, options: IvfOptions): IvfIndex {
    const index = new IvfIndex(dims, options);
    index.train(vectors);
    index.add(ids, vectors);
    return index;
  }

  /**
   * `build` with k-means and list assignment on the GPU: the same index as `build`.
   * @example const ivf = await IvfIndex.buildOnGpu(gpu, ids, vectors, 768, { nlist: 1024, nprobe: 32 });
   */
  static async buildOnGpu(
    gpu: Gpu,
    ids: readonly string[],
    vectors: Float32Array,
    dims: number,
    options: IvfOptions,
  ): Promise<IvfIndex> {
    const index = new IvfIndex(dims, options);
    await index.trainOnGpu(gpu, vectors);
    await index.addOnGpu(gpu, ids, vectors);
    return index;
  }

  get size(): number {
    return this.listOf.size;
  }

  get trained(): boolean {
    return this.centroids !== undefined;
  }

  /** Vectors per list, for inspecting balance. */
  listSizes(): number[] {
    return this.lists.map((l) => l.size);
  }

  /**
   * Learns the `nlist` centroids from sample vectors (row-major `[n, dims]`, n >= nlist); returns the
   * k-means run (iterations, initialisation).
   */
  train(vectors: Float32Array): KMeansResult {
    checkRows(vectors, this.dims, 'The training vectors');
    const result = kmeans(vectors, this.dims, this.nlist, this.kmeansOptions());
    this.centroids = result.centroids.slice();
    return result;
  }

  /** `train` with the k-means assignment step on the GPU: the same centroids. */
  async trainOnGpu(gpu: Gpu, vectors: Float32Array): Promise<KMeansResult> {
    checkRows(vectors, this.dims, 'The training vectors');
    const result = await kmeansOnGpu(gpu, vectors, this.dims, this.nlist, this.kmeansOptions());
    this.centroids = result.centroids.slice();
    return result;
  }

  /** Every id, list after list. */
  get ids(): readonly string[] {
    return this.lists.flatMap((l) => l.ids);
  }

  has(id: string): boolean {
    return this.listOf.has(id);
  }

  /** The stored vector of `id` (decoded from f16 if stored so), or undefined. */
  get(id: string): Float32Array | undefined {
    const list = this.listOf.get(id);
    return list === undefined ? undefined : this.lists[list].get(id);
  }

  /** Storage precision of the lists. */
  get dtype(): VectorDType {
    return this.options.dtype ?? 'f32';
  }

  /**
   * The trained index as plain arrays, for saving: the centroids and, per list, its ids and stored
   * values (f32, or f16 bits; views, not copies).
   */
  parts(): IvfParts {
    if (!this.centroids) throw new Error('An IVF index must be trained before it is saved.');
    return { centroids: this.centroids, lists: this.lists.map((l) => ({ ids: l.ids, raw: l.raw() })) };
  }

  /**
   * An index rebuilt from `parts()` (e.g. a saved directory), without training or re-assigning.
   * @example const ivf = IvfIndex.fromParts(768, { nlist: 1024, nprobe: 16 }, parts);
   */
  static fromParts(dims: number, options: IvfOptions, parts: IvfParts): IvfIndex {
    const index = new IvfIndex(dims, options);
    if (parts.centroids.length !== index.nlist * dims || parts.lists.length !== index.nlist)
      throw new Error(`IVF parts hold ${parts.lists.length} lists for nlist ${index.nlist}.`);
    index.centroids = parts.centroids.slice();
    parts.lists.forEach((list, n) => {
      for (const id of list.ids) {
        if (index.listOf.has(id)) throw new Error(`The id "${id}" is in two IVF lists.`);
        index.listOf.set(id, n);
      }
      index.lists[n].appendRaw(list.ids, list.raw);
    });
    return index;
  }

  /** A copy of the `[nlist, dims]` centroids, or undefined before training. */
  getCentroids(): Float32Array | undefined {
    return this.centroids?.slice();
  }

  add(ids: readonly string[], vectors: Float32Array): void {
    const centroids = this.checkAdd(ids, vectors);
    this.insert(ids, vectors, nearestCentroids(vectors, centroids, this.dims));
  }

  /** `add` with each vector's list found on the GPU: the same lists. Do not change the index meanwhile. */
  async addOnGpu(gpu: Gpu, ids: readonly string[], vectors: Float32Array): Promise<void> {
    const centroids = this.checkAdd(ids, vectors);
    if (ids.length === 0) return;
    this.insert(ids, vectors, await nearestCentroidsOnGpu(gpu, vectors, centroids, this.dims));
  }

  private kmeansOptions() {
    const { seed, iterations, init, onIteration } = this.options;
    return { seed, iterations, init, onIteration };
  }

  /** Checks an add call; returns the centroids. */
  private checkAdd(ids: readonly string[], vectors: Float32Array): Float32Array {
    const centroids = this.centroids;
    if (!centroids) throw new Error('The IVF index must be trained before vectors are added.');
    const n = checkRows(vectors, this.dims, 'The vectors to add');
    if (n !== ids.length)
      throw new Error(`Got ${ids.length} ids for ${n} vectors of ${this.dims} dimensions.`);
    const seen = new Set<string>();
    for (const id of ids) {
      if (this.listOf.has(id) || seen.has(id)) throw new Error(`The id "${id}" is already in the index.`);
      seen.add(id);
    }
    return centroids;
  }

  /** Appends vector i to list `lists[i]`, list by list (one store append per list). */
  private insert(ids: readonly string[], vectors: Float32Array, lists: Int32Array): void {
    const d = this.dims;
    const members: number[][] = this.lists.map(() => []);
    for (let i = 0; i < lists.length; i++) members[lists[i]].push(i);
    members.forEach((rows, list) => {
      if (rows.length === 0) return;
      const batch = new Float32Array(rows.length * d);
      for (const [j, i] of rows.entries()) batch.set(vectors.subarray(i * d, i * d + d), j * d);
      this.lists[list].add(
        rows.map((i) => ids[i]),
        batch,
      );
      for (const i of rows) this.listOf.set(ids[i], list);
    });
  }

  remove(ids: readonly string[]): number {
    let removed = 0;
    for (const id of ids) {
      const list = this.listOf.get(id);
      if (list === undefined) continue;
      removed += this.lists[list].remove([id]);
      this.listOf.delete(id);
    }
    return removed;
  }

  /** The `nprobe` lists whose centroids score highest against query `q`. */
  private probe(queries: Float32Array, q: number, nprobe: number): number[] {
    const d = this.dims;
    const scores = Array.from({ length: this.nlist }, (_, c) =>
      dot(queries, q * d, this.centroids!, c * d, d),
    );
    const order = scores.map((_, c) => c).sort((a, b) => scores[b] - scores[a] || a - b);
    return order.slice(0, nprobe);
  }

  /** Synchronous search; `nprobe` defaults to the index's setting. */
  searchSync(queries: Float32Array, k: number, nprobe = this.nprobe): SearchHit[][] {
    const nq = checkSearch(queries, this.dims, k);
    if (!Number.isInteger(nprobe) || nprobe < 1)
      throw new RangeError(`nprobe must be a positive integer, got ${nprobe}.`);
    const tops = Array.from({ length: nq }, () => new TopK(k));
    if (!this.centroids) return tops.map(() => []);
    // Group queries by list so each list (and its f16 decoding) is visited once.
    const byList: number[][] = this.lists.map(() => []);
    for (let q = 0; q < nq; q++) for (const list of this.probe(queries, q, nprobe)) byList[list].push(q);
    const d = this.dims;
    byList.forEach((qs, list) => {
      if (qs.length === 0 || this.lists[list].size === 0) return;
      const batch = new Float32Array(qs.length * d);
      for (const [i, q] of qs.entries()) batch.set(queries.subarray(q * d, q * d + d), i * d);
      scanStore(
        this.lists[list],
        batch,
        qs.map((q) => tops[q]),
      );
    });
    return tops.map((t) => t.sorted());
  }

  async search(queries: Float32Array, k: number): Promise<SearchHit[][]> {
    return this.searchSync(queries, k);
  }
}
