/**
 * Exact inner-product search on a WebGPU device, with results equal to `FlatIndex` (ids and scores).
 *
 * Vectors live on the device in f32 or f16, split by rows into shards that each fit one storage binding
 * (and `shardRows`). A search uploads a batch of queries [Q, d] (f32), and for every shard records
 * scores [Q, rows] = queries x shard^T (`matmul`, the shard read as a weight stored [N, K]) and the
 * per-row `topk` of the scores, all in one submission, then reads every shard's candidates back at once.
 * Batch i + 1 runs on the GPU while the CPU merges batch i.
 *
 * Exactness: the GPU's scores are rounded differently from the CPU's (f64 sum rounded to f32) and its
 * top-k breaks ties by row, not by id. So each shard returns k + margin candidates, which are re-scored
 * exactly on the CPU and merged under the package's ranking rule; `mergeCandidates` proves from an error
 * bound that no row left out could rank, and a shard that cannot be proven settled (ties straddling the
 * cut, duplicated vectors) is asked again for 4x the candidates, and finally scanned on the CPU.
 *
 * Removal compacts: the shard's last row moves into the hole (host and device), as `VectorStore` does.
 * The host keeps a copy of every shard (the exact re-scoring reads it; no ArrayBuffer exceeds a shard).
 */
import { type Gpu, Tensor, toF16Array } from '@llara/gpu';
import { matmul, TOPK_MAX_K, topk } from '@llara/kernels';
import { type CandidateList, innerProductErrorBound, isUsable, mergeCandidates } from './exact-rerank.ts';
import { checkSearch, dot } from './flat-index.ts';
import type { SearchHit } from './ranking.ts';
import { TopK } from './top-k.ts';
import type { VectorDType, VectorIndex } from './vector-index.ts';
import { checkDims, checkRows, f16Table } from './vector-store.ts';

export interface GpuFlatIndexOptions {
  /** Storage precision on the device and host (default 'f32'); f16 scores the rounded vectors, as FlatIndex does. */
  dtype?: VectorDType;
  /** Most rows per shard (default: as many as fit one storage binding). */
  shardRows?: number;
  /** Most bytes of one score tile [queries, rows] (default: one binding, at most 256 MiB). */
  tileBytes?: number;
  /** Most queries per GPU batch (default 1024). */
  queryBatch?: number;
  /** Extra candidates per shard beyond k (default max(16, k / 4)). */
  margin?: number;
  /**
   * 'f32' keeps queries in f32 on every path; 'f16' (default) lets f16 shards use the tensor-core matmul,
   * which rounds queries to f16 (results stay exact: the error bound widens, more candidates are checked).
   */
  precision?: 'f16' | 'f32';
}

/** Queries per GPU batch when nothing else limits it. */
const DEFAULT_QUERY_BATCH = 1024;
const DEFAULT_TILE_BYTES = 256 * 1024 * 1024;
/** Smallest column tile of any matmul family: a shard's rows must fit the workgroup grid in x. */
const MATMUL_MIN_TILE_N = 32;
/** Buffers are rounded up to this by the pool; keep shards below the binding limit after rounding. */
const BUFFER_ALIGN = 256;
/** f16 values travel packed two per u32: the largest |query| value that survives rounding to f16. */
const F16_MAX = 65504;
/** Elements per queue write when uploading shards (even, so f16 chunks stay u32-aligned). */
const WRITE_CHUNK = 1 << 26;

/** Rows of one shard: host copy, device copy, and what the device copy still lacks. */
class Shard {
  data: Float32Array | Uint16Array;
  readonly ids: string[] = [];
  readonly rowOf = new Map<string, number>();
  /** Upper bound on every row's L2 norm (removals leave it as is: still a bound). */
  maxNorm = 0;
  device: Tensor | null = null;
  /** Rows [0, synced) of the device copy are current, except those in `moved`. */
  synced = 0;
  readonly moved = new Set<number>();

  constructor(
    readonly dims: number,
    readonly dtype: VectorDType,
  ) {
    this.data = dtype === 'f32' ? new Float32Array(0) : new Uint16Array(0);
  }

  get size(): number {
    return this.ids.length;
  }

  get capacityRows(): number {
    return this.data.length / this.dims;
  }

  append(ids: readonly string[], values: Float32Array | Uint16Array, maxRows: number): void {
    const d = this.dims;
    const need = this.size + ids.length;
    if (need > this.capacityRows) {
      const rows = Math.min(maxRows, Math.max(need, Math.ceil(this.capacityRows * 1.5), 64));
      const next = this.dtype === 'f32' ? new Float32Array(rows * d) : new Uint16Array(rows * d);
      next.set(this.data.subarray(0, this.size * d));
      this.data = next;
    }
    this.data.set(values, this.size * d);
    this.maxNorm = Math.max(this.maxNorm, maxRowNorm(values, d));
    for (const id of ids) {
      this.rowOf.set(id, this.ids.length);
      this.ids.push(id);
    }
  }

  remove(id: string): void {
    const row = this.rowOf.get(id)!;
    const last = this.size - 1;
    if (row !== last) {
      const d = this.dims;
      this.data.copyWithin(row * d, last * d, last * d + d);
      const moved = this.ids[last];
      this.ids[row] = moved;
      this.rowOf.set(moved, row);
      if (row < this.synced) this.moved.add(row);
    }
    this.ids.pop();
    this.rowOf.delete(id);
    this.synced = Math.min(this.synced, this.size);
  }

  /** Row `r` as f32 values: a view for f32 storage, decoded into `scratch` for f16. */
  row(r: number, scratch: Float32Array): Float32Array {
    const d = this.dims;
    if (this.data instanceof Float32Array) return this.data.subarray(r * d, r * d + d);
    const table = f16Table();
    for (let i = 0; i < d; i++) scratch[i] = table[this.data[r * d + i]];
    return scratch;
  }

  /** Brings the device copy up to date (allocating a larger buffer when the host copy has grown). */
  upload(gpu: Gpu): void {
    const d = this.dims;
    if (!this.device || this.device.size < this.capacityRows * d) {
      this.device?.release();
      this.device = gpu.tensor(this.dtype, [this.capacityRows, d], undefined, {
        label: `index shard ${this.dtype}[${this.capacityRows}x${d}]`,
        pooled: false,
      });
      this.synced = 0;
      this.moved.clear();
    }
    for (const r of this.moved) if (r < this.synced) this.writeRows(gpu, r, r + 1);
    this.moved.clear();
    if (this.synced < this.size) this.writeRows(gpu, this.synced, this.size);
    this.synced = this.size;
  }

  private writeRows(gpu: Gpu, start: number, end: number): void {
    const d = this.dims;
    let a = start * d;
    let b = end * d;
    if (this.dtype === 'f16') {
      // Writes start on 4-byte boundaries and cover whole u32s: widen to even element bounds, taking the
      // neighbouring halves from the host copy so the device copy keeps their current values.
      a -= a & 1;
      b = Math.min(b + (b & 1), this.data.length);
    }
    // Chunked, so that no single queue write (and its staging copy) needs gigabytes at once.
    for (let at = a; at < b; at += WRITE_CHUNK) {
      const end = Math.min(b, at + WRITE_CHUNK);
      gpu.write(this.device!, this.data.subarray(at, end), at * this.data.BYTES_PER_ELEMENT);
    }
  }

  release(): void {
    this.device?.release();
    this.device = null;
  }
}

/** Largest L2 norm among the rows of `values` (f32 values or f16 bits), computed in f64. */
function maxRowNorm(values: Float32Array | Uint16Array, d: number): number {
  const table = values instanceof Uint16Array ? f16Table() : null;
  let max = 0;
  for (let r = 0; r < values.length; r += d) {
    let s = 0;
    if (table) for (let i = r; i < r + d; i++) s += table[values[i]] ** 2;
    else for (let i = r; i < r + d; i++) s += values[i] ** 2;
    max = Math.max(max, s);
  }
  return Math.sqrt(max);
}

/** A shard's candidates for one query, as `topk` returned them (best first by GPU score). */
class ShardCandidates implements CandidateList {
  constructor(
    private readonly shard: Shard,
    private readonly rows: Int32Array,
    private readonly scores: Float32Array,
    private readonly query: Float32Array,
    private readonly scratch: Float32Array,
    readonly eps: number,
    readonly settled: boolean,
    /** Candidates requested from the GPU (grows when the list must be widened). */
    readonly kk: number,
  ) {}

  get length(): number {
    return this.rows.length;
  }
  approx(j: number): number {
    return this.scores[j];
  }
  exact(j: number): number {
    return dot(this.query, 0, this.shard.row(this.rows[j], this.scratch), 0, this.shard.dims);
  }
  id(j: number): string {
    return this.shard.ids[this.rows[j]];
  }
}

/** A shard scanned exactly on the CPU for one query: its best k, settled. */
class ScannedCandidates implements CandidateList {
  readonly eps = 0;
  readonly settled = true;
  readonly kk = Number.POSITIVE_INFINITY;
  constructor(private readonly hits: SearchHit[]) {}
  get length(): number {
    return this.hits.length;
  }
  approx(j: number): number {
    return this.hits[j].score;
  }
  exact(j: number): number {
    return this.hits[j].score;
  }
  id(j: number): string {
    return this.hits[j].id;
  }
}

type Candidates = ShardCandidates | ScannedCandidates;

/** A query whose merge left some shards unsettled (indices into the search's shard list). */
interface Pending {
  q: number;
  lists: Candidates[];
  unsettled: number[];
}

/** What one GPU submission computes: for each shard, `kk` candidates for each of `count` queries. */
interface Job {
  shard: Shard;
  kk: number;
}

interface SearchPlan {
  k: number;
  margin: number;
  precision: 'f16' | 'f32';
  queryRoundedToF16: boolean;
  queryBatch: number;
}

/**
 * @example
 * const gpu = await requestNodeGpu();
 * const index = new GpuFlatIndex(gpu, 768, { dtype: 'f16' });
 * index.add(ids, vectors);
 * const hits = await index.search(queryVectors, 10); // same ids and scores as FlatIndex
 * index.destroy();
 */
export class GpuFlatIndex implements VectorIndex {
  readonly dtype: VectorDType;
  /** Most rows in one shard on this device. */
  readonly shardRows: number;
  private readonly shards: Shard[] = [];
  private readonly shardOf = new Map<string, Shard>();
  private readonly options: GpuFlatIndexOptions;
  private tile: Tensor | null = null;
  private queryBuf: Tensor | null = null;
  private outs: { index: Tensor; score: Tensor }[] = [];
  private searching = 0;
  /**
   * Work done so far: GPU submissions, (query, shard) pairs that needed more candidates to be proven
   * exact, and pairs that were scanned on the CPU (more than 1000 tied candidates).
   */
  readonly stats = { batches: 0, widened: 0, scanned: 0 };

  constructor(
    readonly gpu: Gpu,
    readonly dims: number,
    options: GpuFlatIndexOptions = {},
  ) {
    checkDims(dims);
    this.options = options;
    this.dtype = options.dtype ?? 'f32';
    if (this.dtype !== 'f32' && this.dtype !== 'f16')
      throw new Error(`Vector dtype must be 'f32' or 'f16', got '${this.dtype}'.`);
    const binding = this.bindingBytes();
    const byStorage = Math.floor(binding / (dims * (this.dtype === 'f32' ? 4 : 2)));
    // One query's score row must fit a binding too, and the matmul grid's x dimension must cover the rows.
    const byScores = Math.floor(binding / 4);
    const byGrid = gpu.limits.maxComputeWorkgroupsPerDimension * MATMUL_MIN_TILE_N;
    const limit = Math.min(byStorage, byScores, byGrid);
    const wanted = options.shardRows ?? limit;
    if (!Number.isInteger(wanted) || wanted < 1)
      throw new RangeError(`shardRows must be a positive integer, got ${wanted}.`);
    if (limit < 1) throw new RangeError(`A ${dims}-dimensional vector does not fit one storage binding.`);
    this.shardRows = Math.min(wanted, limit);
  }

  get size(): number {
    return this.shardOf.size;
  }

  /** Number of shards holding vectors. */
  get shardCount(): number {
    return this.shards.length;
  }

  has(id: string): boolean {
    return this.shardOf.has(id);
  }

  /** A stored vector as f32 (f16 storage is decoded), or undefined. */
  get(id: string): Float32Array | undefined {
    const shard = this.shardOf.get(id);
    if (!shard) return undefined;
    const out = new Float32Array(this.dims);
    out.set(shard.row(shard.rowOf.get(id)!, out));
    return out;
  }

  /** Adds vectors (copied to the device at the next search). */
  add(ids: readonly string[], vectors: Float32Array): void {
    this.checkIdle('add');
    const n = checkRows(vectors, this.dims, 'The vectors to add');
    if (n !== ids.length)
      throw new Error(`Got ${ids.length} ids for ${n} vectors of ${this.dims} dimensions.`);
    this.checkNewIds(ids);
    this.appendStored(ids, this.dtype === 'f32' ? vectors : toF16Array(vectors));
  }

  /**
   * Adds rows already in the storage dtype (f16 bits for 'f16'), skipping value checks: for trusted,
   * checksummed files such as `readShards` output.
   */
  addRaw(ids: readonly string[], values: Float32Array | Uint16Array): void {
    this.checkIdle('add');
    if ((this.dtype === 'f32') !== values instanceof Float32Array)
      throw new Error(
        `Raw rows for a ${this.dtype} index must be ${this.dtype === 'f32' ? 'a Float32Array' : 'f16 bits in a Uint16Array'}.`,
      );
    if (values.length !== ids.length * this.dims)
      throw new Error(`Got ${ids.length} ids for ${values.length} values of ${this.dims} dimensions.`);
    this.checkNewIds(ids);
    this.appendStored(ids, values);
  }

  remove(ids: readonly string[]): number {
    this.checkIdle('remove');
    let removed = 0;
    for (const id of ids) {
      const shard = this.shardOf.get(id);
      if (!shard) continue;
      shard.remove(id);
      this.shardOf.delete(id);
      removed++;
      if (shard.size === 0) {
        shard.release();
        this.shards.splice(this.shards.indexOf(shard), 1);
      }
    }
    return removed;
  }

  /** The kernels a search uses on this device, for logs. */
  describe(): string {
    const f16 = this.dtype === 'f16' && this.options.precision !== 'f32' && this.gpu.has('subgroup-matrix');
    return `GpuFlatIndex ${this.dtype} [${this.size} x ${this.dims}] in ${this.shards.length} shard(s) of <= ${this.shardRows} rows; matmul ${f16 ? 'f16 tensor cores (queries rounded to f16)' : 'f32'} + topk, exact CPU re-rank`;
  }

  /** The exact top k per query: ids and scores equal `FlatIndex.searchSync` on the same data. */
  async search(queries: Float32Array, k: number): Promise<SearchHit[][]> {
    return this.guard(() => this.exactSearch(queries, k));
  }

  /**
   * The GPU's own top k, merged across shards by GPU scores: faster (no exact re-rank), but scores carry
   * f32 (or f16 tensor-core) rounding and near-ties may be ordered differently from `search`.
   */
  async searchApprox(queries: Float32Array, k: number): Promise<SearchHit[][]> {
    return this.guard(() => this.approxSearch(queries, k));
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    this.searching++;
    try {
      return await fn();
    } finally {
      this.searching--;
    }
  }

  private async exactSearch(queries: Float32Array, k: number): Promise<SearchHit[][]> {
    const nq = checkSearch(queries, this.dims, k);
    const results: SearchHit[][] = Array.from({ length: nq }, () => []);
    if (this.size === 0) return results;
    const plan = this.plan(queries, k);
    const d = this.dims;
    const norms = Array.from({ length: nq }, (_, q) => Math.sqrt(sumSquares(queries, q * d, d)));
    const pending: Pending[] = [];
    await this.runBatches(
      queries,
      nq,
      plan,
      this.shards.map((shard) => ({ shard, kk: this.firstKk(shard, plan) })),
      (q, got) => {
        const lists = got.map(({ shard, kk, rows, scores }) =>
          this.candidates(shard, queries, q, norms[q], rows, scores, kk, plan),
        );
        const merged = mergeCandidates(lists, k);
        if (merged.unsettled.length === 0) results[q] = merged.hits;
        else pending.push({ q, lists, unsettled: merged.unsettled });
      },
    );
    await this.settle(pending, queries, norms, plan, results);
    return results;
  }

  private async approxSearch(queries: Float32Array, k: number): Promise<SearchHit[][]> {
    const nq = checkSearch(queries, this.dims, k);
    const results: SearchHit[][] = Array.from({ length: nq }, () => []);
    if (this.size === 0) return results;
    const plan = this.plan(queries, k);
    const jobs = this.shards.map((shard) => ({ shard, kk: Math.min(k, shard.size) }));
    await this.runBatches(queries, nq, plan, jobs, (q, got) => {
      const top = new TopK(k);
      for (const { shard, rows, scores } of got)
        for (let j = 0; j < rows.length; j++) top.push(shard.ids[rows[j]], scores[j]);
      results[q] = top.sorted();
    });
    return results;
  }

  /** Frees the device buffers; the index must not be searched afterwards. */
  destroy(): void {
    for (const shard of this.shards) shard.release();
    this.releaseScratch();
  }

  private bindingBytes(): number {
    const l = this.gpu.limits;
    return Math.floor(Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize) / BUFFER_ALIGN) * BUFFER_ALIGN;
  }

  private checkIdle(what: string): void {
    if (this.searching > 0)
      throw new Error(`Cannot ${what} vectors while a search of this index is running.`);
  }

  private checkNewIds(ids: readonly string[]): void {
    const batch = new Set<string>();
    for (const id of ids) {
      if (this.shardOf.has(id) || batch.has(id)) throw new Error(`The id "${id}" is already in the index.`);
      batch.add(id);
    }
  }

  private appendStored(ids: readonly string[], values: Float32Array | Uint16Array): void {
    const d = this.dims;
    let done = 0;
    while (done < ids.length) {
      let shard = this.shards[this.shards.length - 1];
      if (!shard || shard.size >= this.shardRows) {
        shard = new Shard(d, this.dtype);
        this.shards.push(shard);
      }
      const take = Math.min(ids.length - done, this.shardRows - shard.size);
      const part = ids.slice(done, done + take);
      shard.append(part, values.subarray(done * d, (done + take) * d), this.shardRows);
      for (const id of part) this.shardOf.set(id, shard);
      done += take;
    }
  }

  private plan(queries: Float32Array, k: number): SearchPlan {
    const tooBig = this.shards.find((s) => Math.min(k, s.size) > TOPK_MAX_K);
    if (tooBig) {
      throw new RangeError(
        `k = ${k} is more than the ${TOPK_MAX_K} results per query that GpuFlatIndex returns from a shard of ${tooBig.size} vectors.`,
      );
    }
    const margin = this.options.margin ?? Math.max(16, Math.ceil(k / 4));
    if (!Number.isInteger(margin) || margin < 0)
      throw new RangeError(`margin must be a non-negative integer, got ${margin}.`);
    let maxAbs = 0;
    for (let i = 0; i < queries.length; i++) maxAbs = Math.max(maxAbs, Math.abs(queries[i]));
    // Queries too large for f16 would overflow on the tensor-core path: keep them f32.
    const precision = this.options.precision === 'f32' || maxAbs >= F16_MAX ? 'f32' : 'f16';
    const queryRoundedToF16 = this.dtype === 'f16' && precision === 'f16' && this.gpu.has('subgroup-matrix');
    const binding = this.bindingBytes();
    const maxRows = Math.max(1, ...this.shards.map((s) => s.size));
    const tileBytes = Math.min(this.options.tileBytes ?? DEFAULT_TILE_BYTES, binding);
    const queryBatch = Math.max(
      1,
      Math.min(
        this.options.queryBatch ?? DEFAULT_QUERY_BATCH,
        Math.floor(tileBytes / (4 * maxRows)),
        Math.floor(binding / (4 * this.dims)),
        Math.floor(binding / (4 * TOPK_MAX_K)),
      ),
    );
    return { k, margin, precision, queryRoundedToF16, queryBatch };
  }

  private firstKk(shard: Shard, plan: SearchPlan): number {
    return Math.min(plan.k + plan.margin, TOPK_MAX_K, shard.size);
  }

  private candidates(
    shard: Shard,
    queries: Float32Array,
    q: number,
    norm: number,
    rows: Int32Array,
    scores: Float32Array,
    kk: number,
    plan: SearchPlan,
  ): ShardCandidates {
    const d = this.dims;
    const eps = innerProductErrorBound(d, norm, shard.maxNorm, { queryRoundedToF16: plan.queryRoundedToF16 });
    const query = queries.subarray(q * d, q * d + d);
    return new ShardCandidates(shard, rows, scores, query, new Float32Array(d), eps, kk >= shard.size, kk);
  }

  /** Widens (then scans) the shards that could not be proven settled, until every query is. */
  private async settle(
    pending: Pending[],
    queries: Float32Array,
    norms: number[],
    plan: SearchPlan,
    results: SearchHit[][],
  ): Promise<void> {
    const d = this.dims;
    while (pending.length > 0) {
      // Group the (query, shard) pairs to widen by shard and by the candidate count they need next.
      const work = new Map<Shard, Map<number, number[]>>();
      for (const [p, item] of pending.entries()) {
        for (const s of item.unsettled) {
          const shard = this.shards[s];
          const have = item.lists[s].kk;
          const next = Math.min(Math.max(4 * have, have + 1), TOPK_MAX_K, shard.size);
          const scan = have >= Math.min(TOPK_MAX_K, shard.size) || !isUsable(item.lists[s]);
          if (scan) {
            this.stats.scanned++;
            item.lists[s] = new ScannedCandidates(
              this.scan(shard, queries.subarray(item.q * d, item.q * d + d), plan.k),
            );
            continue;
          }
          this.stats.widened++;
          const byKk = work.get(shard) ?? new Map<number, number[]>();
          work.set(shard, byKk);
          const members = byKk.get(next) ?? [];
          members.push(p);
          byKk.set(next, members);
        }
      }
      for (const [shard, byKk] of work) {
        for (const [kk, members] of byKk) {
          const sub = new Float32Array(members.length * d);
          for (const [i, p] of members.entries())
            sub.set(queries.subarray(pending[p].q * d, pending[p].q * d + d), i * d);
          const s = this.shards.indexOf(shard);
          await this.runBatches(sub, members.length, plan, [{ shard, kk }], (i, got) => {
            const item = pending[members[i]];
            const { rows, scores } = got[0];
            item.lists[s] = this.candidates(shard, queries, item.q, norms[item.q], rows, scores, kk, plan);
          });
        }
      }
      const still: Pending[] = [];
      for (const item of pending) {
        const merged = mergeCandidates(item.lists, plan.k);
        if (merged.unsettled.length === 0) results[item.q] = merged.hits;
        else still.push({ ...item, unsettled: merged.unsettled });
      }
      pending = still;
    }
  }

  /** The exact best k of one shard for one query, on the CPU. */
  private scan(shard: Shard, query: Float32Array, k: number): SearchHit[] {
    const top = new TopK(k);
    const scratch = new Float32Array(this.dims);
    for (let r = 0; r < shard.size; r++) {
      const score = dot(query, 0, shard.row(r, scratch), 0, this.dims);
      if (score >= top.threshold) top.push(shard.ids[r], score);
    }
    return top.sorted();
  }

  /**
   * Runs `jobs` for every query of `queries` in batches, calling `take(q, perJob)` in query order with
   * each job's candidate rows and GPU scores. The next batch is submitted before the current one is read,
   * so the GPU works while the CPU merges; every buffer is shared, which queue order makes safe.
   */
  private async runBatches(
    queries: Float32Array,
    nq: number,
    plan: SearchPlan,
    jobs: Job[],
    take: (q: number, got: { shard: Shard; kk: number; rows: Int32Array; scores: Float32Array }[]) => void,
  ): Promise<void> {
    for (const shard of this.shards) shard.upload(this.gpu);
    const qb = Math.min(plan.queryBatch, nq);
    this.reserveScratch(qb, jobs);
    let inFlight = this.launch(queries, 0, qb, plan, jobs);
    for (let start = 0; start < nq; start += qb) {
      const count = Math.min(qb, nq - start);
      const next =
        start + qb < nq ? this.launch(queries, start + qb, Math.min(qb, nq - start - qb), plan, jobs) : null;
      // If this batch fails, the next one's failure must not surface as an unhandled rejection.
      next?.catch(() => undefined);
      const bytes = await inFlight;
      let offset = 0;
      const per = jobs.map(({ kk }) => {
        const rows = new Int32Array(bytes, offset, count * kk);
        const scores = new Float32Array(bytes, offset + count * kk * 4, count * kk);
        offset += count * kk * 8;
        return { rows, scores };
      });
      for (let i = 0; i < count; i++) {
        take(
          start + i,
          jobs.map(({ shard, kk }, j) => ({
            shard,
            kk,
            rows: per[j].rows.subarray(i * kk, i * kk + kk),
            scores: per[j].scores.subarray(i * kk, i * kk + kk),
          })),
        );
      }
      if (next) inFlight = next;
    }
  }

  /** Submits one batch and resolves with every job's [count, kk] rows (i32) then scores (f32), job by job. */
  private launch(
    queries: Float32Array,
    start: number,
    count: number,
    plan: SearchPlan,
    jobs: Job[],
  ): Promise<ArrayBuffer> {
    const { gpu, dims: d } = this;
    gpu.write(this.queryBuf!, queries.subarray(start * d, (start + count) * d));
    const qView = new Tensor(gpu, this.queryBuf!.buffer, 'f32', [count, d], 'index queries', false);
    this.stats.batches++;
    const rec = gpu.recorder();
    jobs.forEach(({ shard, kk }, j) => {
      const n = shard.size;
      const scores = new Tensor(gpu, this.tile!.buffer, 'f32', [count, n], 'index scores', false);
      const index = new Tensor(gpu, this.outs[j].index.buffer, 'i32', [count, kk], 'index top rows', false);
      const score = new Tensor(gpu, this.outs[j].score.buffer, 'f32', [count, kk], 'index top scores', false);
      matmul(rec, qView, shard.device!, scores, {
        M: count,
        N: n,
        K: d,
        transB: true,
        precision: plan.precision,
      });
      topk(rec, scores, index, score, { rows: count, cols: n, k: kk });
    });
    rec.submit();
    const total = jobs.reduce((s, { kk }) => s + count * kk * 8, 0);
    const staging = gpu.device.createBuffer({
      size: total,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = gpu.device.createCommandEncoder();
    let offset = 0;
    jobs.forEach(({ kk }, j) => {
      const bytes = count * kk * 4;
      enc.copyBufferToBuffer(this.outs[j].index.buffer, 0, staging, offset, bytes);
      enc.copyBufferToBuffer(this.outs[j].score.buffer, 0, staging, offset + bytes, bytes);
      offset += 2 * bytes;
    });
    gpu.device.queue.submit([enc.finish()]);
    return (async () => {
      try {
        await staging.mapAsync(GPUMapMode.READ);
      } catch (e) {
        gpu.assertAlive();
        throw e;
      }
      const out = staging.getMappedRange().slice(0);
      staging.unmap();
      staging.destroy();
      await gpu.checkErrors();
      return out;
    })();
  }

  /** Makes the shared query, score-tile and per-job output buffers large enough for a batch of `qb`. */
  private reserveScratch(qb: number, jobs: Job[]): void {
    const gpu = this.gpu;
    const grow = (t: Tensor | null, dtype: 'f32' | 'i32', elements: number, label: string): Tensor => {
      if (t && t.size >= elements) return t;
      t?.release();
      return gpu.tensor(dtype, [Math.max(elements, 1)], undefined, { label, pooled: false });
    };
    const maxRows = Math.max(...jobs.map((j) => j.shard.size));
    this.queryBuf = grow(this.queryBuf, 'f32', qb * this.dims, 'index queries');
    this.tile = grow(this.tile, 'f32', qb * maxRows, 'index scores');
    jobs.forEach(({ kk }, j) => {
      const have = this.outs[j];
      this.outs[j] = {
        index: grow(have?.index ?? null, 'i32', qb * kk, 'index top rows'),
        score: grow(have?.score ?? null, 'f32', qb * kk, 'index top scores'),
      };
    });
  }

  private releaseScratch(): void {
    this.tile?.release();
    this.queryBuf?.release();
    for (const o of this.outs) {
      o.index.release();
      o.score.release();
    }
    this.tile = this.queryBuf = null;
    this.outs = [];
  }
}

function sumSquares(a: Float32Array, off: number, n: number): number {
  let s = 0;
  for (let i = off; i < off + n; i++) s += a[i] * a[i];
  return s;
}
