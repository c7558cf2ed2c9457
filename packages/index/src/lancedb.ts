/**
 * An embedded on-disk document store on LanceDB (Node only): ids, texts and vectors in one Lance table,
 * searched by inner product with the same exact results as `FlatIndex` (ids, f32 scores, id tie rule).
 *
 * LanceDB's 'dot' distance is `1 - q.v` computed in f32, and it orders ties its own way; so each query
 * asks for k + margin rows, turns distances back into approximate scores, re-scores the returned
 * vectors exactly (`dot`, f64 rounded to f32) and lets `mergeCandidates` prove from an error bound that
 * no row left out could rank; otherwise it asks for 4x the rows. The bound needs the largest row norm,
 * kept in a `norm` column. No ANN index is built: LanceDB scans every row (exact k-nearest neighbours).
 *
 * Table columns: `id` (utf8), `text` (utf8), `norm` (f64: the row's L2 norm), `vector` (f32 x dims).
 */
import type { Connection, Table } from '@lancedb/lancedb';
import { innerProductErrorBound, mergeCandidates } from './exact-rerank.ts';
import { checkSearch, dot } from './flat-index.ts';
import type { SearchHit } from './ranking.ts';
import { checkDims, checkRows } from './vector-store.ts';

export interface LanceStoreOptions {
  /** Table name (default 'documents'). */
  table?: string;
  /** Vector length; required only to search a store that has no table yet. */
  dims?: number;
  /** Extra rows fetched per query beyond k (default max(16, k / 4)). */
  margin?: number;
}

/** Rows per `IN (...)` filter when checking ids. */
const ID_CHUNK = 500;

const quote = (id: string) => `'${id.replaceAll("'", "''")}'`;

interface LanceRow {
  id: string;
  text?: string;
  vector: Iterable<number>;
  _distance: number;
}

/**
 * @example
 * const store = await LanceStore.open('out/lance');
 * await store.add(['d1', 'd2'], ['first text', 'second text'], vectors); // vectors: Float32Array [2, dims]
 * const [hits] = await store.search(queryVector, 10);
 * store.close();
 */
export class LanceStore {
  private table: Table | null;
  private dimsValue: number | undefined;
  private maxNorm: number;

  private constructor(
    readonly dir: string,
    private readonly db: Connection,
    private readonly name: string,
    table: Table | null,
    dims: number | undefined,
    maxNorm: number,
    private readonly margin: number | undefined,
  ) {
    this.table = table;
    this.dimsValue = dims;
    this.maxNorm = maxNorm;
  }

  /** Opens (or creates on the first `add`) the store in directory `dir`. */
  static async open(dir: string, opts: LanceStoreOptions = {}): Promise<LanceStore> {
    const lancedb = await import('@lancedb/lancedb').catch((e: NodeJS.ErrnoException) => {
      // An optional peer dependency of @llara/index (a native addon of ~150 MB that only this store uses).
      if (e.code === 'ERR_MODULE_NOT_FOUND' && /'@lancedb\/lancedb'/.test(String(e)))
        throw new Error(
          "The npm package '@lancedb/lancedb' is not installed: run `npm install @lancedb/lancedb@^0.31.0` to use LanceStore.",
        );
      throw e;
    });
    const name = opts.table ?? 'documents';
    if (opts.dims !== undefined) checkDims(opts.dims);
    let db: Connection;
    try {
      db = await lancedb.connect(dir);
    } catch (e) {
      throw new Error(`LanceDB store ${dir} cannot be opened (${(e as Error).message}).`);
    }
    if (!(await db.tableNames()).includes(name)) {
      return new LanceStore(dir, db, name, null, opts.dims, 0, opts.margin);
    }
    const table = await db.openTable(name);
    const schema = await table.schema();
    const fields = new Map(schema.fields.map((f) => [f.name, f]));
    const vector = fields.get('vector')?.type as { listSize?: number } | undefined;
    if (!fields.has('id') || !fields.has('norm') || !vector?.listSize) {
      throw new Error(
        `LanceDB table "${name}" in ${dir} was not written by LanceStore (it lacks id, norm or vector columns).`,
      );
    }
    if (opts.dims !== undefined && opts.dims !== vector.listSize) {
      throw new Error(
        `LanceDB table "${name}" in ${dir} holds ${vector.listSize}-dimensional vectors, not ${opts.dims}.`,
      );
    }
    let maxNorm = 0;
    for (const row of (await table.query().select(['norm']).toArray()) as { norm: number }[]) {
      maxNorm = Math.max(maxNorm, row.norm);
    }
    return new LanceStore(dir, db, name, table, vector.listSize, maxNorm, opts.margin);
  }

  /** Vector length, once known (from the table, the options or the first `add`). */
  get dims(): number | undefined {
    return this.dimsValue;
  }

  async count(): Promise<number> {
    return this.table ? this.table.countRows() : 0;
  }

  /** Adds documents; ids must be new. `vectors` is row-major [ids.length, dims]. */
  async add(ids: readonly string[], texts: readonly string[], vectors: Float32Array): Promise<void> {
    if (texts.length !== ids.length) throw new Error(`Got ${texts.length} texts for ${ids.length} ids.`);
    const d = this.dimsValue ?? (ids.length > 0 ? vectors.length / ids.length : 0);
    if (ids.length === 0) return;
    checkDims(d);
    const n = checkRows(vectors, d, 'The vectors to add');
    if (n !== ids.length) throw new Error(`Got ${ids.length} ids for ${n} vectors of ${d} dimensions.`);
    await this.checkNewIds(ids);
    const rows = ids.map((id, r) => {
      const v = vectors.subarray(r * d, r * d + d);
      let s = 0;
      for (let i = 0; i < d; i++) s += v[i] * v[i];
      return { id, text: texts[r], norm: Math.sqrt(s), vector: Array.from(v) };
    });
    if (this.table) await this.table.add(rows);
    else this.table = await this.db.createTable(this.name, rows);
    this.dimsValue = d;
    for (const row of rows) this.maxNorm = Math.max(this.maxNorm, row.norm);
  }

  /** Texts of the given ids (undefined for unknown ids). */
  async texts(ids: readonly string[]): Promise<(string | undefined)[]> {
    const found = new Map<string, string>();
    for (const row of await this.rowsWithIds(ids, ['id', 'text'])) found.set(row.id, row.text ?? '');
    return ids.map((id) => found.get(id));
  }

  /**
   * The `k` best documents by inner product for each query (row-major [queries, dims]), with the
   * exact scores and order of `FlatIndex.searchSync` on the same vectors.
   */
  async search(queries: Float32Array, k: number): Promise<SearchHit[][]> {
    const d = this.dimsValue;
    if (d === undefined) {
      throw new Error(
        `LanceDB store ${this.dir} is empty and its vector length is unknown (open it with { dims }).`,
      );
    }
    const nq = checkSearch(queries, d, k);
    const total = await this.count();
    const out: SearchHit[][] = [];
    for (let q = 0; q < nq; q++) {
      out.push(total === 0 ? [] : await this.searchOne(queries.slice(q * d, q * d + d), k, total));
    }
    return out;
  }

  /** Closes the table and the connection. */
  close(): void {
    this.table?.close();
    this.db.close();
  }

  private async searchOne(query: Float32Array, k: number, total: number): Promise<SearchHit[]> {
    const d = query.length;
    let qn = 0;
    for (const x of query) qn += x * x;
    // LanceDB's distance adds one more f32 rounding: 1 - q.v, with |1 - q.v| <= 1 + |q||v|.
    const bound = innerProductErrorBound(d, Math.sqrt(qn), this.maxNorm);
    const eps = bound + 2 ** -22 * (1 + Math.sqrt(qn) * this.maxNorm);
    let limit = Math.min(total, k + (this.margin ?? Math.max(16, Math.ceil(k / 4))));
    for (;;) {
      const rows = (await this.table!.vectorSearch(query)
        .distanceType('dot')
        .select(['id', 'vector', '_distance'])
        .limit(limit)
        .toArray()) as LanceRow[];
      const vectors = rows.map((r) => Float32Array.from(r.vector));
      const merged = mergeCandidates(
        [
          {
            length: rows.length,
            approx: (j) => 1 - rows[j]._distance,
            exact: (j) => dot(query, 0, vectors[j], 0, d),
            id: (j) => rows[j].id,
            eps,
            settled: rows.length >= total,
          },
        ],
        k,
      );
      if (merged.unsettled.length === 0) return merged.hits;
      if (limit >= total)
        throw new Error(
          `LanceDB store ${this.dir} returned ${rows.length} of its ${total} rows for a full scan.`,
        );
      limit = Math.min(total, limit * 4);
    }
  }

  private async checkNewIds(ids: readonly string[]): Promise<void> {
    const batch = new Set<string>();
    for (const id of ids) {
      if (batch.has(id)) throw new Error(`The id "${id}" appears twice in the documents to add.`);
      batch.add(id);
    }
    const [dup] = await this.rowsWithIds(ids, ['id']);
    if (dup) throw new Error(`The id "${dup.id}" is already in the LanceDB store ${this.dir}.`);
  }

  private async rowsWithIds(
    ids: readonly string[],
    columns: string[],
  ): Promise<{ id: string; text?: string }[]> {
    if (!this.table) return [];
    const out: { id: string; text?: string }[] = [];
    for (let i = 0; i < ids.length; i += ID_CHUNK) {
      const list = ids
        .slice(i, i + ID_CHUNK)
        .map(quote)
        .join(', ');
      out.push(
        ...((await this.table.query().where(`id IN (${list})`).select(columns).toArray()) as LanceRow[]),
      );
    }
    return out;
  }
}
