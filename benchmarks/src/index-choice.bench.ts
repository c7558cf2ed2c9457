/**
 * Which vector index to use: every index this project ships, on one corpus, measured for build time,
 * queries per second and recall@10 against exact search (`FlatIndex`). docs/choosing-an-index.md reads
 * these numbers.
 *
 * The corpus is a seeded mixture of Gaussians on the unit sphere (clusters of uneven size and spread),
 * queries are fresh draws from the same mixture. Uniform random vectors would make IVF meaningless: with
 * no cluster structure every list is as likely to hold a neighbour as any other, so recall grows only
 * linearly with nprobe, which is not how embeddings behave.
 *
 * Indexes: `FlatIndex` (exact, CPU), `GpuFlatIndex` (exact, GPU), `IvfIndex` (nlist = 4 sqrt(n); k-means
 * timed on the GPU and on the CPU, which must give identical centroids; searched at several nprobe),
 * `LanceStore` (LanceDB on disk, exact scan + re-rank) and `PgVectorIndex` (PGlite, i.e. PostgreSQL
 * compiled to WASM, with pgvector's HNSW index, served over a socket to the `pg` client).
 *
 * Sizes: 'smoke' (1k x 32, seconds, for the test); 'default' (10k x 256, under two minutes on a 2-core
 * CPU with lavapipe, where GPU k-means is slower than CPU k-means: the software top-k kernel costs about
 * 0.5-1 ms per row, and k-means asks it for one row per point per iteration; 20k took six minutes);
 * 'full' (1M x 768, for a real GPU: the CPU scans time 50 queries, CPU k-means and PGlite are skipped).
 *
 * Run it with `node benchmarks/scripts/index-choice.mjs [--smoke | --full]` (all five indexes), or
 * `device-main index-choice` from the device bundle (which lacks LanceDB and PGlite: reported as such).
 *
 * ```ts
 * const result = await benchIndexChoice(await requestNodeGpu(), { size: 'smoke' });
 * console.log(formatIndexChoice(result));
 * ```
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { type Gpu, seededRandom } from '@llara/gpu';
import { FlatIndex, GpuFlatIndex, IvfIndex, normalizeRows, type SearchHit } from '@llara/index';
import { LanceStore, PgVectorIndex } from '@llara/index/node';

export type IndexChoiceSize = 'smoke' | 'default' | 'full';

export interface IndexChoiceOptions {
  /** Preset shapes (default 'default'). */
  size?: IndexChoiceSize;
  /** Corpus vectors (overrides the preset). */
  n?: number;
  /** Dimensions (overrides the preset). */
  d?: number;
  /** Queries in the batch (overrides the preset). */
  queries?: number;
  /** Queries given to the exhaustive CPU scans (FlatIndex, LanceStore) when timing them (default all). */
  cpuQueries?: number;
  /** IVF lists (default round(4 sqrt(n))). */
  nlist?: number;
  /** IVF lists probed per query, one row each. */
  nprobe?: number[];
  /** pgvector HNSW ef_search values, one row each. */
  efSearch?: number[];
  /** k-means iterations for the IVF (default 10). */
  iterations?: number;
  /** Corpus seed (default 1). */
  seed?: number;
  /** Directory for the LanceDB table (default: a fresh folder under the OS temp dir, removed after). */
  tmpDir?: string;
  log?: (line: string) => void;
  /** Called with the result so far after every row or skip (for incremental JSON). */
  onProgress?: (result: IndexChoiceResult) => void;
}

export interface IndexChoiceRow {
  index: 'FlatIndex' | 'GpuFlatIndex' | 'IvfIndex' | 'LanceStore' | 'PgVectorIndex';
  /** Where the search runs. */
  where: string;
  /** Parameters that change speed or recall (nprobe, ef_search). */
  params: string;
  /** Seconds from vectors in memory to a searchable index (ingest, training, index build, upload). */
  build_s: number;
  /** The part of `build_s` that trains or builds the ANN structure (k-means, HNSW), or null. */
  train_s: number | null;
  /** Queries in the timed batch. */
  queries: number;
  /** Wall seconds for the whole batch (top 10 each). */
  query_s: number;
  queries_per_s: number;
  /** Fraction of the exact top 10 found, over the batch. */
  recall_at_10: number;
  /** True when ids and scores equal `FlatIndex` for every query of the batch. */
  exact: boolean;
  /** Bytes the index holds (device memory, RAM, or disk for LanceDB and PostgreSQL); null if unknown. */
  bytes: number | null;
}

/** IVF k-means training on one device. */
export interface TrainingRow {
  where: 'GPU' | 'CPU';
  nlist: number;
  points: number;
  init: string;
  iterations: number;
  /** k-means seconds. */
  train_s: number;
  /** Seconds to assign every corpus vector to its list. */
  add_s: number;
  /** GPU centroids and lists equal the CPU ones (null when the CPU run was skipped). */
  same_as_cpu: boolean | null;
}

export interface IndexChoiceResult {
  meta: { date: string; device: string; cpu: string; node: string; size: IndexChoiceSize };
  corpus: {
    n: number;
    d: number;
    clusters: number;
    topics: number;
    queries: number;
    k: number;
    seed: number;
  };
  rows: IndexChoiceRow[];
  training: TrainingRow[];
  /** Indexes or steps that were not measured, with the reason. */
  skipped: { what: string; reason: string }[];
}

const K = 10;
/** Queries searched untimed before each timed batch (JIT, caches, query plans, pipelines). */
const WARMUP = 4;
/** How to run with LanceDB and PGlite where the device bundle lacks them. */
const FROM_SOURCE = 'node benchmarks/scripts/index-choice.mjs';

interface Shape {
  n: number;
  d: number;
  queries: number;
  cpuQueries?: number;
  nprobe: (nlist: number) => number[];
  efSearch: number[];
  /** CPU k-means and CPU list assignment are measured. */
  cpuTrain: boolean;
  /** pgvector in PGlite is measured (single-threaded WASM: hours at 1M rows). */
  pg: boolean;
}

const SHAPES: Record<IndexChoiceSize, Shape> = {
  smoke: { n: 1000, d: 32, queries: 16, nprobe: (l) => [1, 4, l], efSearch: [40], cpuTrain: true, pg: true },
  default: {
    n: 10_000,
    d: 256,
    queries: 300,
    nprobe: () => [1, 4, 16, 64],
    efSearch: [40, 100],
    cpuTrain: true,
    pg: true,
  },
  full: {
    n: 1_000_000,
    d: 768,
    queries: 1000,
    cpuQueries: 50,
    nprobe: () => [1, 8, 32, 128],
    efSearch: [40, 100],
    cpuTrain: false,
    pg: false,
  },
};

/** Standard normal draws (Box-Muller) from a seeded uniform stream. */
function gaussian(rand: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(1 - rand()));
    const t = 2 * Math.PI * rand();
    spare = r * Math.sin(t);
    return r * Math.cos(t);
  };
}

/**
 * The mixture: cluster centres grouped under topics (a cluster centre is its topic's direction plus
 * noise of norm 0.75, so sibling clusters have cosine ~0.64 and neighbour sets straddle them, as
 * subtopics of real embeddings do), log-normal weights, spreads in [0.7, 1.3].
 */
interface Mixture {
  centers: Float32Array;
  cumulative: Float64Array;
  spread: Float64Array;
  d: number;
}

function mixture(clusters: number, topics: number, d: number, seed: number): Mixture {
  const rand = seededRandom(seed);
  const normal = gaussian(rand);
  const topic = new Float32Array(topics * d);
  for (let i = 0; i < topic.length; i++) topic[i] = normal();
  normalizeRows(topic, d);
  const centers = new Float32Array(clusters * d);
  const sub = 0.75 / Math.sqrt(d);
  for (let c = 0; c < clusters; c++) {
    const t = c % topics;
    for (let j = 0; j < d; j++) centers[c * d + j] = topic[t * d + j] + sub * normal();
  }
  normalizeRows(centers, d);
  const cumulative = new Float64Array(clusters);
  const spread = new Float64Array(clusters);
  let total = 0;
  for (let c = 0; c < clusters; c++) {
    total += Math.exp(0.75 * normal());
    cumulative[c] = total;
    spread[c] = 0.7 + 0.6 * rand();
  }
  for (let c = 0; c < clusters; c++) cumulative[c] /= total;
  return { centers, cumulative, spread, d };
}

/** `n` unit vectors: a centre drawn by weight plus isotropic noise of norm ~spread, normalised. */
function sample(m: Mixture, n: number, seed: number): Float32Array {
  const { d, centers, cumulative, spread } = m;
  const rand = seededRandom(seed);
  const normal = gaussian(rand);
  const out = new Float32Array(n * d);
  const scale = 1 / Math.sqrt(d);
  for (let i = 0; i < n; i++) {
    const u = rand();
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    const s = spread[lo] * scale;
    for (let j = 0; j < d; j++) out[i * d + j] = centers[lo * d + j] + s * normal();
  }
  return normalizeRows(out, d);
}

function recallAt(got: SearchHit[][], truth: SearchHit[][]): number {
  let found = 0;
  let total = 0;
  got.forEach((hits, q) => {
    const want = new Set(truth[q].map((h) => h.id));
    found += hits.filter((h) => want.has(h.id)).length;
    total += want.size;
  });
  return total === 0 ? 0 : found / total;
}

function sameHits(got: SearchHit[][], truth: SearchHit[][]): boolean {
  return (
    got.length === truth.length &&
    got.every(
      (hits, q) =>
        hits.length === truth[q].length &&
        hits.every((h, i) => h.id === truth[q][i].id && h.score === truth[q][i].score),
    )
  );
}

async function timed<T>(fn: () => Promise<T> | T): Promise<[T, number]> {
  const t0 = performance.now();
  const value = await fn();
  return [value, (performance.now() - t0) / 1000];
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    total += entry.isDirectory() ? await dirBytes(p) : (await stat(p)).size;
  }
  return total;
}

function errorText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300);
}

/**
 * Loads a package that `@llara/index` depends on (PGlite, pg), resolved from that package's own
 * dependencies: the benchmarks package does not list them, and a device bundle without them reports
 * the index as skipped instead of failing. `require` (all four ship CommonJS builds), because a dynamic
 * `import()` is rewritten by Vite's module runner, which cannot run CommonJS.
 */
function loadIndexDependency(name: string): Record<string, unknown> {
  const fromHere = createRequire(import.meta.url);
  return createRequire(fromHere.resolve('@llara/index'))(name) as Record<string, unknown>;
}

interface PgConnection {
  // biome-ignore lint/suspicious/noExplicitAny: the `pg` client is loaded at run time (see loadIndexDependency).
  client: any;
  close(): Promise<void>;
}

/** PGlite with pgvector, served on 127.0.0.1 and reached through `pg`, as pgvector.test.ts does. */
async function startPglite(): Promise<PgConnection> {
  type Ctor = new (...args: unknown[]) => Record<string, (...a: unknown[]) => Promise<unknown> | string>;
  const { PGlite } = loadIndexDependency('@electric-sql/pglite') as {
    PGlite: { create: (o: unknown) => Promise<{ close(): Promise<void> }> };
  };
  const { vector } = loadIndexDependency('@electric-sql/pglite-pgvector');
  const { PGLiteSocketServer } = loadIndexDependency('@electric-sql/pglite-socket') as {
    PGLiteSocketServer: Ctor;
  };
  const pg = loadIndexDependency('pg') as { Client: Ctor };
  const db = await PGlite.create({ extensions: { vector } });
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0 });
  await server.start();
  const [host, port] = (server.getServerConn() as string).split(':');
  const client = new pg.Client({ host, port: Number(port), user: 'postgres', database: 'postgres' });
  await client.connect();
  return {
    client,
    async close() {
      await client.end();
      await server.stop();
      await db.close();
    },
  };
}

/** The adapter's name, as the other benchmarks report it. */
function deviceName(gpu: Gpu): string {
  const a = gpu.caps.adapter;
  return a.description || a.device || a.architecture || 'unknown adapter';
}

export async function benchIndexChoice(gpu: Gpu, opts: IndexChoiceOptions = {}): Promise<IndexChoiceResult> {
  const size = opts.size ?? 'default';
  const shape = SHAPES[size];
  const n = opts.n ?? shape.n;
  const d = opts.d ?? shape.d;
  const nq = opts.queries ?? shape.queries;
  const cpuQ = Math.min(nq, opts.cpuQueries ?? shape.cpuQueries ?? nq);
  const nlist = opts.nlist ?? Math.round(4 * Math.sqrt(n));
  const nprobes = opts.nprobe ?? shape.nprobe(nlist);
  const iterations = opts.iterations ?? 10;
  const seed = opts.seed ?? 1;
  const log = opts.log ?? (() => undefined);
  const device = deviceName(gpu);
  const clusters = Math.max(8, Math.round(n / 200));
  const topics = Math.max(2, Math.round(clusters / 10));
  const result: IndexChoiceResult = {
    meta: {
      date: new Date().toISOString(),
      device,
      cpu: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown CPU'}`,
      node: process.version,
      size,
    },
    corpus: { n, d, clusters, topics, queries: nq, k: K, seed },
    rows: [],
    training: [],
    skipped: [],
  };
  const skip = (what: string, reason: string) => {
    result.skipped.push({ what, reason });
    log(`${what}: skipped (${reason})`);
    opts.onProgress?.(result);
  };

  log(`corpus: ${n} x ${d}, ${clusters} clusters in ${topics} topics, ${nq} queries`);
  const mix = mixture(clusters, topics, d, seed);
  const vectors = sample(mix, n, seed + 1);
  const queries = sample(mix, nq, seed + 2);
  const cpuQueries = queries.subarray(0, cpuQ * d);
  const ids = Array.from({ length: n }, (_, i) => `doc-${i}`);
  const row = (r: Omit<IndexChoiceRow, 'queries_per_s'>) => {
    const full = { ...r, queries_per_s: r.queries / r.query_s };
    result.rows.push(full);
    opts.onProgress?.(result);
    log(
      `${r.index} ${r.params}: build ${r.build_s.toFixed(2)} s, ${full.queries_per_s.toFixed(1)} queries/s, recall@10 ${r.recall_at_10.toFixed(3)}`,
    );
  };

  // Exact search on the CPU: the reference every other row is measured against (on the GPU too in full
  // mode, where the CPU scan sees only `cpuQueries`; GpuFlatIndex's results equal FlatIndex's).
  const [flat, flatBuild] = await timed(() => {
    const index = new FlatIndex(d);
    index.add(ids, vectors);
    return index;
  });
  flat.searchSync(queries.subarray(0, WARMUP * d), K);
  const [flatHits, flatSearch] = await timed(() => flat.searchSync(cpuQueries, K));

  const [gpuIndex, gpuBuild] = await timed(async () => {
    const index = new GpuFlatIndex(gpu, d);
    index.add(ids, vectors);
    // Uploads the shards and compiles the pipelines: part of getting a searchable index.
    await index.search(queries.subarray(0, WARMUP * d), K);
    return index;
  });
  const [gpuHits, gpuSearch] = await timed(() => gpuIndex.search(queries, K)).finally(() =>
    gpuIndex.destroy(),
  );
  const truth = cpuQ === nq ? flatHits : gpuHits;
  const cpuTruth = truth.slice(0, cpuQ);
  row({
    index: 'FlatIndex',
    where: 'CPU (JS, one thread)',
    params: 'exact, f32',
    build_s: flatBuild,
    train_s: null,
    queries: cpuQ,
    query_s: flatSearch,
    recall_at_10: recallAt(flatHits, cpuTruth),
    exact: sameHits(flatHits, cpuTruth),
    bytes: n * d * 4,
  });
  row({
    index: 'GpuFlatIndex',
    where: `GPU (${device})`,
    params: 'exact, f32',
    build_s: gpuBuild,
    train_s: null,
    queries: nq,
    query_s: gpuSearch,
    recall_at_10: recallAt(gpuHits, truth),
    exact: sameHits(gpuHits, truth),
    bytes: n * d * 4,
  });

  // IVF: k-means on the GPU (the index searched), then the same on the CPU, which must agree exactly.
  const ivfOptions = { nlist, seed, iterations };
  const ivf = new IvfIndex(d, ivfOptions);
  const [trainedGpu, gpuTrain] = await timed(() => ivf.trainOnGpu(gpu, vectors));
  const [, gpuAdd] = await timed(() => ivf.addOnGpu(gpu, ids, vectors));
  log(
    `IVF k-means on the GPU: ${gpuTrain.toFixed(2)} s (${trainedGpu.iterations} iterations, ${trainedGpu.init})`,
  );
  const points = Math.min(n, 256 * nlist);
  let sameAsCpu: boolean | null = null;
  let cpuRow: TrainingRow | undefined;
  if (shape.cpuTrain) {
    const cpuIvf = new IvfIndex(d, ivfOptions);
    const [trainedCpu, cpuTrain] = await timed(() => cpuIvf.train(vectors));
    const [, cpuAdd] = await timed(() => cpuIvf.add(ids, vectors));
    sameAsCpu =
      trainedCpu.iterations === trainedGpu.iterations &&
      trainedCpu.centroids.every((v, i) => v === trainedGpu.centroids[i]) &&
      cpuIvf.listSizes().every((s, i) => s === ivf.listSizes()[i]);
    cpuRow = {
      where: 'CPU',
      nlist,
      points,
      init: trainedCpu.init,
      iterations: trainedCpu.iterations,
      train_s: cpuTrain,
      add_s: cpuAdd,
      same_as_cpu: null,
    };
    log(`IVF k-means on the CPU: ${cpuTrain.toFixed(2)} s; identical to the GPU's: ${sameAsCpu}`);
  } else {
    skip(
      'IvfIndex k-means on the CPU',
      `not run at size '${size}': ${(n * nlist * d).toExponential(1)} multiply-adds per iteration for one JS thread`,
    );
  }
  result.training.push({
    where: 'GPU',
    nlist,
    points,
    init: trainedGpu.init,
    iterations: trainedGpu.iterations,
    train_s: gpuTrain,
    add_s: gpuAdd,
    same_as_cpu: sameAsCpu,
  });
  if (cpuRow) result.training.push(cpuRow);
  for (const nprobe of nprobes) {
    ivf.searchSync(queries.subarray(0, WARMUP * d), K, nprobe);
    const [hits, secs] = await timed(() => ivf.searchSync(queries, K, nprobe));
    row({
      index: 'IvfIndex',
      where: 'CPU (JS); lists from GPU k-means',
      params: `nlist ${nlist}, nprobe ${nprobe}`,
      build_s: gpuTrain + gpuAdd,
      train_s: gpuTrain,
      queries: nq,
      query_s: secs,
      recall_at_10: recallAt(hits, truth),
      exact: sameHits(hits, truth),
      bytes: (n + nlist) * d * 4,
    });
  }

  await benchLance(opts.tmpDir, ids, vectors, d, cpuQueries, cpuTruth, row, skip, log);
  if (shape.pg)
    await benchPg(ids, vectors, d, queries, truth, opts.efSearch ?? shape.efSearch, row, skip, log);
  else
    skip(
      'PgVectorIndex',
      `not run at size '${size}': an HNSW build over ${n} rows in PGlite (single-threaded WASM PostgreSQL); measure pgvector on a PostgreSQL server`,
    );
  return result;
}

type RowFn = (r: Omit<IndexChoiceRow, 'queries_per_s'>) => void;
type SkipFn = (what: string, reason: string) => void;

/** Rows per LanceDB append: LanceStore turns each row into a JS array first. */
const LANCE_CHUNK = 50_000;

async function benchLance(
  tmpDir: string | undefined,
  ids: string[],
  vectors: Float32Array,
  d: number,
  queries: Float32Array,
  truth: SearchHit[][],
  row: RowFn,
  skip: SkipFn,
  log: (line: string) => void,
): Promise<void> {
  const dir = tmpDir ?? (await mkdtemp(path.join(os.tmpdir(), 'llara-index-choice-')));
  let store: LanceStore | undefined;
  try {
    store = await LanceStore.open(path.join(dir, 'lance'), { dims: d });
    const s = store;
    const [, build] = await timed(async () => {
      for (let start = 0; start < ids.length; start += LANCE_CHUNK) {
        const end = Math.min(ids.length, start + LANCE_CHUNK);
        await s.add(
          ids.slice(start, end),
          new Array(end - start).fill(''),
          vectors.subarray(start * d, end * d),
        );
      }
    });
    await s.search(queries.subarray(0, WARMUP * d), K);
    const [hits, secs] = await timed(() => s.search(queries, K));
    row({
      index: 'LanceStore',
      where: 'LanceDB (native, on disk)',
      params: 'exact scan + exact re-rank',
      build_s: build,
      train_s: null,
      queries: queries.length / d,
      query_s: secs,
      recall_at_10: recallAt(hits, truth),
      exact: sameHits(hits, truth),
      bytes: await dirBytes(path.join(dir, 'lance')),
    });
  } catch (e) {
    skip('LanceStore', `LanceDB did not run here (${errorText(e)}); in a checkout: ${FROM_SOURCE}`);
  } finally {
    store?.close();
    if (!tmpDir) await rm(dir, { recursive: true, force: true });
    else log(`LanceDB table left in ${dir}`);
  }
}

async function benchPg(
  ids: string[],
  vectors: Float32Array,
  d: number,
  queries: Float32Array,
  truth: SearchHit[][],
  efSearch: number[],
  row: RowFn,
  skip: SkipFn,
  log: (line: string) => void,
): Promise<void> {
  let conn: PgConnection;
  try {
    conn = await startPglite();
  } catch (e) {
    skip(
      'PgVectorIndex',
      `PGlite could not be started here (${errorText(e)}); in a checkout: ${FROM_SOURCE}`,
    );
    return;
  }
  try {
    const store = new PgVectorIndex(conn.client, { dims: d, table: 'index_choice' });
    await store.init();
    const [, ingest] = await timed(() =>
      store.add(
        ids.map((id) => ({ id })),
        vectors,
      ),
    );
    const [, hnsw] = await timed(() => store.createHnswIndex({ m: 16, efConstruction: 64 }));
    log(`pgvector: ingest ${ingest.toFixed(2)} s, HNSW build ${hnsw.toFixed(2)} s`);
    const { rows } = await conn.client.query("SELECT pg_total_relation_size('index_choice') AS bytes");
    for (const ef of efSearch) {
      await store.search(queries.subarray(0, WARMUP * d), K, { efSearch: ef });
      const [hits, secs] = await timed(() => store.search(queries, K, { efSearch: ef }));
      row({
        index: 'PgVectorIndex',
        where: 'PGlite (WASM PostgreSQL) + pgvector, over a socket',
        params: `HNSW m 16, ef_construction 64, ef_search ${ef}`,
        build_s: ingest + hnsw,
        train_s: hnsw,
        queries: queries.length / d,
        query_s: secs,
        recall_at_10: recallAt(hits, truth),
        exact: sameHits(hits, truth),
        bytes: Number(rows[0].bytes),
      });
    }
  } catch (e) {
    skip('PgVectorIndex', `pgvector failed: ${errorText(e)}`);
  } finally {
    await conn.close();
  }
}

const fmtBytes = (b: number | null) =>
  b === null ? 'n/a' : b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`;

/** The result as markdown: corpus, the main table, IVF training, and what was skipped. */
export function formatIndexChoice(r: IndexChoiceResult): string {
  const c = r.corpus;
  const lines = [
    `Corpus: ${c.n} x ${c.d} f32 unit vectors, a mixture of ${c.clusters} Gaussians in ${c.topics} topics on the sphere (seed ${c.seed}); ${c.queries} queries from the same mixture; top ${c.k}, inner product.`,
    `Device: ${r.meta.device}; CPU: ${r.meta.cpu}; Node ${r.meta.node}; ${r.meta.date}; size '${r.meta.size}'.`,
    '',
    '| index | runs on | parameters | build s | of which train s | queries | queries/s | recall@10 | exact | size |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.rows.map(
      (x) =>
        `| ${x.index} | ${x.where} | ${x.params} | ${x.build_s.toFixed(2)} | ${x.train_s === null ? '-' : x.train_s.toFixed(2)} | ${x.queries} | ${x.queries_per_s.toFixed(1)} | ${x.recall_at_10.toFixed(3)} | ${x.exact ? 'yes' : 'no'} | ${fmtBytes(x.bytes)} |`,
    ),
    '',
    '| IVF k-means on | nlist | training points | init | iterations | k-means s | list assignment s | identical to CPU |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.training.map(
      (t) =>
        `| ${t.where} | ${t.nlist} | ${t.points} | ${t.init} | ${t.iterations} | ${t.train_s.toFixed(2)} | ${t.add_s.toFixed(2)} | ${t.same_as_cpu === null ? '-' : t.same_as_cpu ? 'yes' : 'NO'} |`,
    ),
  ];
  if (r.skipped.length > 0) lines.push('', ...r.skipped.map((s) => `- not measured: ${s.what}: ${s.reason}`));
  return lines.join('\n');
}
