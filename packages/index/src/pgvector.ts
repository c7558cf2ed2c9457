/**
 * Scale-out storage and search in PostgreSQL with pgvector (Node only), through the `pg` client:
 * table `(id text primary key, text text, embedding vector(d))`, an HNSW index with `vector_ip_ops`,
 * batched parameterised ingestion, and top-k by inner product (`<#>` is the negative inner product).
 */
import type { ClientBase } from 'pg';
import pgvector from 'pgvector/pg';
import { compareHits, type SearchHit } from './ranking.ts';
import { checkRows } from './vector-store.ts';

export interface PgVectorOptions {
  /** Vector length; must match an existing table. */
  dims: number;
  /** Table name: letters, digits and underscores (default 'llara_vectors'). */
  table?: string;
}

/** A row's id and optional stored text. */
export interface PgDocument {
  id: string;
  text?: string;
}

export interface HnswOptions {
  /** Graph degree (pgvector default 16). */
  m?: number;
  /** Candidate list size while building (pgvector default 64). */
  efConstruction?: number;
}

// Postgres allows at most 65,535 bind parameters per statement; each row uses 3.
const MAX_BATCH = Math.floor(65535 / 3);

/**
 * @example
 * const client = new pg.Client(url); await client.connect();
 * const store = new PgVectorIndex(client, { dims: 768 });
 * await store.init();
 * await store.add(docs, vectors);
 * await store.createHnswIndex();
 * const hits = await store.search(queryVectors, 10, { efSearch: 100 });
 */
export class PgVectorIndex {
  readonly dims: number;
  readonly table: string;

  constructor(
    readonly client: ClientBase,
    options: PgVectorOptions,
  ) {
    this.dims = options.dims;
    this.table = options.table ?? 'llara_vectors';
    if (!Number.isInteger(this.dims) || this.dims < 1 || this.dims > 16000) {
      throw new RangeError(`pgvector dimensions must be an integer from 1 to 16000, got ${this.dims}.`);
    }
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(this.table)) {
      throw new Error(`The table name "${this.table}" must be letters, digits and underscores.`);
    }
  }

  private get quoted(): string {
    return `"${this.table}"`;
  }

  /** Creates the extension and table if needed, and checks an existing table's vector length. */
  async init(): Promise<void> {
    await this.client.query('CREATE EXTENSION IF NOT EXISTS vector');
    await pgvector.registerTypes(this.client);
    await this.client.query(
      `CREATE TABLE IF NOT EXISTS ${this.quoted} (id text PRIMARY KEY, text text, embedding vector(${this.dims}) NOT NULL)`,
    );
    const { rows } = await this.client.query(
      `SELECT atttypmod AS dims FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'embedding'`,
      [this.quoted],
    );
    const stored = rows[0]?.dims;
    if (stored !== this.dims) {
      throw new Error(`Table ${this.table} stores ${stored}-dimensional embeddings, not ${this.dims}.`);
    }
  }

  /** Builds an HNSW index for inner-product search (a no-op when it exists). */
  async createHnswIndex(options: HnswOptions = {}): Promise<void> {
    const m = options.m ?? 16;
    const ef = options.efConstruction ?? 64;
    if (!Number.isInteger(m) || !Number.isInteger(ef))
      throw new RangeError('HNSW m and efConstruction must be integers.');
    await this.client.query(
      `CREATE INDEX IF NOT EXISTS "${this.table}_embedding_hnsw" ON ${this.quoted} ` +
        `USING hnsw (embedding vector_ip_ops) WITH (m = ${m}, ef_construction = ${ef})`,
    );
  }

  /**
   * Inserts or replaces rows, `batchSize` per statement, all in one transaction.
   * `vectors` is row-major `[docs.length, dims]`.
   */
  async add(
    docs: readonly PgDocument[],
    vectors: Float32Array,
    options: { batchSize?: number } = {},
  ): Promise<void> {
    const n = checkRows(vectors, this.dims, 'The vectors to add');
    if (n !== docs.length)
      throw new Error(`Got ${docs.length} documents for ${n} vectors of ${this.dims} dimensions.`);
    const seen = new Set<string>();
    for (const doc of docs) {
      if (seen.has(doc.id)) throw new Error(`The id "${doc.id}" appears twice in one add call.`);
      seen.add(doc.id);
    }
    const batch = Math.min(options.batchSize ?? 500, MAX_BATCH);
    await this.transaction(async () => {
      for (let start = 0; start < n; start += batch)
        await this.insertBatch(docs, vectors, start, Math.min(n, start + batch));
    });
  }

  private async insertBatch(
    docs: readonly PgDocument[],
    vectors: Float32Array,
    start: number,
    end: number,
  ): Promise<void> {
    const d = this.dims;
    const values: unknown[] = [];
    const rows: string[] = [];
    for (let i = start; i < end; i++) {
      const p = values.length;
      rows.push(`($${p + 1}, $${p + 2}, $${p + 3})`);
      values.push(
        docs[i].id,
        docs[i].text ?? null,
        pgvector.toSql(Array.from(vectors.subarray(i * d, i * d + d))),
      );
    }
    await this.client.query(
      `INSERT INTO ${this.quoted} (id, text, embedding) VALUES ${rows.join(', ')} ` +
        'ON CONFLICT (id) DO UPDATE SET text = EXCLUDED.text, embedding = EXCLUDED.embedding',
      values,
    );
  }

  /** Deletes rows by id; returns how many existed. */
  async remove(ids: readonly string[]): Promise<number> {
    const result = await this.client.query(`DELETE FROM ${this.quoted} WHERE id = ANY($1::text[])`, [ids]);
    return result.rowCount ?? 0;
  }

  /** Number of rows. */
  async count(): Promise<number> {
    const { rows } = await this.client.query(`SELECT count(*)::int AS n FROM ${this.quoted}`);
    return rows[0].n;
  }

  /** A stored row, or undefined. */
  async get(id: string): Promise<{ id: string; text: string | null; embedding: Float32Array } | undefined> {
    const { rows } = await this.client.query(`SELECT id, text, embedding FROM ${this.quoted} WHERE id = $1`, [
      id,
    ]);
    if (rows.length === 0) return undefined;
    return { id: rows[0].id, text: rows[0].text, embedding: Float32Array.from(rows[0].embedding) };
  }

  /**
   * Top `k` rows by inner product per query (row-major `[nq, dims]`), ranked by score desc then id desc.
   * With an HNSW index the search is approximate: `efSearch` (default max(40, k), at most 1000) trades speed
   * for recall, and no more than `efSearch` rows come back.
   */
  async search(
    queries: Float32Array,
    k: number,
    options: { efSearch?: number } = {},
  ): Promise<SearchHit[][]> {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}.`);
    const nq = checkRows(queries, this.dims, 'The queries');
    const ef = Math.min(1000, Math.max(1, Math.round(options.efSearch ?? Math.max(40, k))));
    const d = this.dims;
    const out: SearchHit[][] = [];
    await this.transaction(async () => {
      await this.client.query(`SET LOCAL hnsw.ef_search = ${ef}`);
      for (let q = 0; q < nq; q++) {
        const { rows } = await this.client.query(
          `SELECT id, (embedding <#> $1) * -1 AS score FROM ${this.quoted} ORDER BY embedding <#> $1 LIMIT $2`,
          [pgvector.toSql(Array.from(queries.subarray(q * d, q * d + d))), k],
        );
        out.push(rows.map((r) => ({ id: r.id, score: Number(r.score) })).sort(compareHits));
      }
    });
    return out;
  }

  private async transaction(fn: () => Promise<void>): Promise<void> {
    await this.client.query('BEGIN');
    try {
      await fn();
      await this.client.query('COMMIT');
    } catch (e) {
      await this.client.query('ROLLBACK');
      throw e;
    }
  }
}
