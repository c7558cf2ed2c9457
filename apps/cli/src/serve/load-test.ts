/**
 * A bounded load test for `llara serve` on 127.0.0.1: N concurrent clients send a fixed number of
 * requests (or stop at a time cap), mixing passage and query embeddings, searches, malformed JSON,
 * oversized inputs and clients that disconnect early. Every well-formed answer is checked against
 * the answer the same server gave when each input was sent alone (bit for bit), every bad one for its
 * status; memory is read from /metrics before and after (RSS, heap, GPU buffer pool).
 *
 * ```ts
 * const report = await runLoad({ url, requests: 200, concurrency: 8, timeCapMs: 60_000, passages, queries });
 * report.failures; // [] when every answer was right
 * ```
 */
import { request as httpRequest } from 'node:http';
import { seededRandom } from '@llara/gpu';
import { type Answer, call, metric, rowOf } from './http-client.ts';

export type LoadKind = 'passage' | 'query' | 'search' | 'malformed' | 'oversized' | 'disconnect';

export interface LoadOptions {
  url: string;
  apiKey?: string;
  /** Requests in the load phase (the references before it are extra). */
  requests: number;
  concurrency: number;
  /** The load phase stops here even if requests remain. */
  timeCapMs: number;
  passages: (string | { title?: string; text: string })[];
  queries: string[];
  /** The server's --max-inputs and --max-input-chars (oversized requests go one past them). */
  maxInputs: number;
  maxInputChars: number;
  /** Whether the server has an index (then searches join the mix). */
  search: boolean;
  seed?: number;
}

export interface MemorySample {
  rssBytes: number;
  heapUsedBytes: number;
  gpuInUseBytes: number;
  gpuAllocatedBytes: number;
  gpuPeakInUseBytes: number;
}

export interface LoadReport {
  requests: number;
  seconds: number;
  stoppedBy: 'count' | 'time';
  perKind: Record<LoadKind, { sent: number; ok: number }>;
  /** Answers that were wrong (first 20), each one sentence. */
  failures: string[];
  /** 429s (correct backpressure, not failures) seen on well-formed requests. */
  busy: number;
  requestsPerSecond: number;
  inputsPerSecond: number;
  /** Latency of well-formed requests answered 200. */
  p50Ms: number;
  p99Ms: number;
  memoryBefore: MemorySample;
  memoryAfter: MemorySample;
}

const KINDS: [LoadKind, number][] = [
  ['passage', 0.34],
  ['query', 0.28],
  ['search', 0.16],
  ['malformed', 0.08],
  ['oversized', 0.08],
  ['disconnect', 0.06],
];

const b64 = (embedding: number[] | string) => Buffer.from(rowOf(embedding).buffer).toString('base64');

export async function memory(url: string, apiKey?: string): Promise<MemorySample> {
  const m = (await call(url, 'GET', '/metrics', undefined, { apiKey })).text;
  return {
    rssBytes: metric(m, 'llara_process_resident_memory_bytes'),
    heapUsedBytes: metric(m, 'llara_nodejs_heap_size_used_bytes'),
    gpuInUseBytes: metric(m, 'llara_gpu_pool_in_use_bytes'),
    gpuAllocatedBytes: metric(m, 'llara_gpu_pool_allocated_bytes'),
    gpuPeakInUseBytes: metric(m, 'llara_gpu_pool_peak_in_use_bytes'),
  };
}

/** Waits until the server has nothing in flight or queued (clients that left may still be draining). */
async function quiet(url: string, apiKey?: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const m = (await call(url, 'GET', '/metrics', undefined, { apiKey })).text;
    if (metric(m, 'llara_requests_in_flight') === 0 && metric(m, 'llara_queue_depth') === 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Sends a valid request and closes the socket before (or while) the answer comes. */
function disconnectEarly(url: string, body: string, afterMs: number, apiKey?: string): Promise<void> {
  return new Promise((resolve) => {
    const u = new URL('/v1/embeddings', url);
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on('end', resolve);
        res.on('error', () => resolve());
      },
    );
    req.on('error', () => resolve());
    req.end(body);
    setTimeout(() => {
      req.destroy();
      resolve();
    }, afterMs);
  });
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  const { url, apiKey } = o;
  const post = (path: string, body: unknown, raw?: string) => call(url, 'POST', path, body, { apiKey, raw });

  // References: each input alone, before any load.
  const refPassage: string[] = [];
  for (const p of o.passages) {
    const a = await post('/v1/embeddings', { input: [p], truncate: true });
    if (a.status !== 200)
      throw new Error(`The reference request for a passage was answered ${a.status}: ${a.text}`);
    refPassage.push(b64(a.json.data[0].embedding));
  }
  const refQuery: string[] = [];
  const refSearch: string[] = [];
  for (const q of o.queries) {
    const a = await post('/v1/embeddings', { input: q, input_type: 'query', truncate: true });
    if (a.status !== 200)
      throw new Error(`The reference request for a query was answered ${a.status}: ${a.text}`);
    refQuery.push(b64(a.json.data[0].embedding));
    if (o.search)
      refSearch.push(JSON.stringify((await post('/search', { query: q, k: 5, truncate: true })).json.hits));
  }
  await quiet(url, apiKey);
  const memoryBefore = await memory(url, apiKey);

  // Deterministic, so a run's mix is reproducible.
  const random = seededRandom(o.seed ?? 1);
  const pick = (n: number) => Math.floor(random() * n);
  const kinds = o.search ? KINDS : KINDS.filter(([k]) => k !== 'search');
  const total = kinds.reduce((s, [, w]) => s + w, 0);
  const kindOf = (): LoadKind => {
    let x = random() * total;
    for (const [k, w] of kinds) {
      x -= w;
      if (x < 0) return k;
    }
    return kinds[0][0];
  };
  const perKind = Object.fromEntries(KINDS.map(([k]) => [k, { sent: 0, ok: 0 }])) as LoadReport['perKind'];
  const failures: string[] = [];
  const fail = (s: string) => {
    if (failures.length < 20) failures.push(s);
  };
  const latencies: number[] = [];
  let busy = 0;
  let inputs = 0;
  let next = 0;
  const started = performance.now();
  const deadline = started + o.timeCapMs;
  let stoppedBy: LoadReport['stoppedBy'] = 'count';

  const expectStatus = (kind: LoadKind, a: Answer, status: number) => {
    if (a.status === status && typeof a.json?.error?.message === 'string') perKind[kind].ok++;
    else fail(`A ${kind} request was answered ${a.status}, not ${status}.`);
  };

  const one = async (): Promise<void> => {
    const kind = kindOf();
    perKind[kind].sent++;
    const t0 = performance.now();
    const timed = (a: Answer) => {
      if (a.status === 429) busy++;
      else if (a.status === 200) latencies.push(performance.now() - t0);
      return a;
    };
    if (kind === 'passage' || kind === 'query') {
      const refs = kind === 'passage' ? refPassage : refQuery;
      const items = kind === 'passage' ? o.passages : o.queries;
      const idx = Array.from({ length: 1 + pick(Math.min(4, o.maxInputs)) }, () => pick(items.length));
      const encoding = random() < 0.5 ? 'float' : 'base64';
      const a = timed(
        await post('/v1/embeddings', {
          input: idx.map((i) => items[i]),
          input_type: kind,
          encoding_format: encoding,
          truncate: true,
        }),
      );
      if (a.status === 429) return;
      if (a.status !== 200)
        return fail(`A ${kind} request was answered ${a.status}: ${a.text.slice(0, 200)}`);
      const wrong = idx.findIndex((i, j) => b64(a.json.data[j].embedding) !== refs[i]);
      if (wrong >= 0)
        return fail(`A ${kind} embedding (input ${wrong}) differs from the same input sent alone.`);
      inputs += idx.length;
      perKind[kind].ok++;
    } else if (kind === 'search') {
      const i = pick(o.queries.length);
      const a = timed(await post('/search', { query: o.queries[i], k: 5, truncate: true }));
      if (a.status === 429) return;
      if (a.status !== 200 || JSON.stringify(a.json.hits) !== refSearch[i])
        return fail(`A search was answered ${a.status} with hits other than the same query alone.`);
      inputs++;
      perKind.search.ok++;
    } else if (kind === 'malformed') {
      const raw = ['{"input": [', '{"input": "a",}', 'not json', '{"input": "x"}}'][pick(4)];
      expectStatus(kind, await post('/v1/embeddings', undefined, raw), 400);
    } else if (kind === 'oversized') {
      const body =
        random() < 0.5
          ? { input: Array(o.maxInputs + 1).fill(o.queries[0]) }
          : { input: 'a'.repeat(o.maxInputChars + 1) };
      expectStatus(kind, await post('/v1/embeddings', body), 413);
    } else {
      const body = JSON.stringify({ input: o.passages.slice(0, 4), truncate: true });
      await disconnectEarly(url, body, pick(20), apiKey);
      perKind.disconnect.ok++;
    }
  };

  const client = async () => {
    while (next < o.requests) {
      if (performance.now() > deadline) {
        stoppedBy = 'time';
        return;
      }
      next++;
      try {
        await one();
      } catch (e) {
        fail(`A request failed without an answer: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, client));
  const seconds = (performance.now() - started) / 1000;
  await quiet(url, apiKey);
  const memoryAfter = await memory(url, apiKey);
  latencies.sort((a, b) => a - b);
  return {
    requests: next,
    seconds,
    stoppedBy,
    perKind,
    failures,
    busy,
    requestsPerSecond: next / seconds,
    inputsPerSecond: inputs / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    memoryBefore,
    memoryAfter,
  };
}
