// Runs against a real PostgreSQL: PGlite (Postgres compiled to WASM) with the pgvector extension, served on
// 127.0.0.1 by pglite-socket and reached through the ordinary `pg` client.
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { randomArray } from '@llara/gpu';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlatIndex } from './flat-index.ts';
import { normalizeRows } from './kmeans.ts';
import { PgVectorIndex } from './pgvector.ts';

const d = 16;
const n = 300;
const ids = Array.from({ length: n }, (_, i) => `doc-${i}`);
const vectors = normalizeRows(randomArray(n * d, 21), d);
const queries = normalizeRows(randomArray(5 * d, 22), d);

let db: PGlite;
let server: PGLiteSocketServer;
let client: pg.Client;

beforeAll(async () => {
  db = await PGlite.create({ extensions: { vector } });
  server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0 });
  await server.start();
  const [host, port] = server.getServerConn().split(':');
  client = new pg.Client({ host, port: Number(port), user: 'postgres', database: 'postgres' });
  await client.connect();
}, 120_000);

afterAll(async () => {
  await client?.end();
  await server?.stop();
  await db?.close();
});

describe('PgVectorIndex (PGlite + pgvector over a socket)', () => {
  it('ingests in batches and finds the exact top 10 by inner product without an index', async () => {
    const store = new PgVectorIndex(client, { dims: d, table: 'docs' });
    await store.init();
    await store.add(
      ids.map((id, i) => ({ id, text: `text ${i}` })),
      vectors,
      { batchSize: 64 },
    );
    expect(await store.count()).toBe(n);
    const flat = new FlatIndex(d);
    flat.add(ids, vectors);
    const exact = flat.searchSync(queries, 10);
    const got = await store.search(queries, 10);
    expect(got.map((hs) => hs.map((h) => h.id))).toEqual(exact.map((hs) => hs.map((h) => h.id)));
    for (const [q, hs] of got.entries()) {
      for (const [i, h] of hs.entries()) expect(h.score).toBeCloseTo(exact[q][i].score, 5);
    }
    const row = await store.get('doc-7');
    expect(row?.text).toBe('text 7');
    expect([...(row?.embedding ?? [])]).toEqual([...vectors.subarray(7 * d, 8 * d)]);
  });

  it('searches through an HNSW index (vector_ip_ops) with high recall', async () => {
    const store = new PgVectorIndex(client, { dims: d, table: 'docs' });
    await store.createHnswIndex({ m: 16, efConstruction: 64 });
    await client.query('SET enable_seqscan = off');
    const plan = await client.query(
      `EXPLAIN SELECT id FROM docs ORDER BY embedding <#> '${JSON.stringify(Array(d).fill(0.25))}' LIMIT 10`,
    );
    await client.query('RESET enable_seqscan');
    expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toContain('docs_embedding_hnsw');
    const flat = new FlatIndex(d);
    flat.add(ids, vectors);
    const exact = flat.searchSync(queries, 10);
    const got = await store.search(queries, 10, { efSearch: 100 });
    let found = 0;
    for (const [q, hs] of got.entries()) {
      const truth = new Set(exact[q].map((h) => h.id));
      found += hs.filter((h) => truth.has(h.id)).length;
    }
    expect(found / 50).toBeGreaterThanOrEqual(0.9);
  });

  it('upserts, removes, and rejects mismatched tables and bad input', async () => {
    const store = new PgVectorIndex(client, { dims: d, table: 'docs' });
    await store.add([{ id: 'doc-0', text: 'replaced' }], vectors.slice(d, 2 * d));
    expect(await store.count()).toBe(n);
    expect((await store.get('doc-0'))?.text).toBe('replaced');
    expect(await store.remove(['doc-0', 'doc-1', 'missing'])).toBe(2);
    expect(await store.get('doc-0')).toBeUndefined();
    await expect(store.add([{ id: 'a' }, { id: 'a' }], new Float32Array(2 * d))).rejects.toThrow(
      'The id "a" appears twice in one add call.',
    );
    await expect(new PgVectorIndex(client, { dims: 8, table: 'docs' }).init()).rejects.toThrow(
      'Table docs stores 16-dimensional embeddings, not 8.',
    );
    expect(() => new PgVectorIndex(client, { dims: d, table: 'docs; drop table docs' })).toThrow(
      'The table name "docs; drop table docs" must be letters, digits and underscores.',
    );
    expect(await store.count()).toBe(n - 2);
  });
});
