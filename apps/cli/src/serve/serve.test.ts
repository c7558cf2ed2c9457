/**
 * `llara serve` end to end on 127.0.0.1 (port 0): embeddings equal `llara embed`'s bit for bit
 * whatever they were batched with, search equals `llara search`, every kind of bad input gets its
 * status and one sentence, and the server holds up: 429 when full, timeouts, clients that leave,
 * device loss (503, reload, healthy again), auth, and a graceful shutdown.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeNpy } from '@llara/index/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exposureWarning, type RunningServer, startServer } from '../commands/serve.ts';
import { runCli } from '../commands/test-harness.ts';
import type { BatchRun } from './batcher.ts';
import { call, metric, rowOf } from './http-client.ts';
import { buildFixture, bytes, type Fixture, STORIES, TEST_LIMITS } from './test-fixture.ts';

const H = 64;
const MARKER = 'zebramarmalade';
let fx: Fixture;
let main: RunningServer;
const mainLog: string[] = [];

beforeAll(async () => {
  fx = await buildFixture(16, 8);
  main = await startServer({
    model: STORIES,
    recipe: 'flag',
    index: fx.flatIndex,
    host: '127.0.0.1',
    port: 0,
    limits: TEST_LIMITS,
    log: (l) => mainLog.push(l),
  });
});

afterAll(async () => {
  await main?.close();
});

const passage = (i: number) => ({ title: fx.docs[i].title, text: fx.docs[i].text });
const row = (all: Float32Array, i: number) => all.subarray(i * H, (i + 1) * H);

/** Holds every forward pass of `running` until the returned function is called. */
function gate(running: RunningServer): { open: () => void; ran: number[] } {
  const b = running.engine.batcher as unknown as { run: BatchRun };
  const real = b.run;
  let open!: () => void;
  const wait = new Promise<void>((r) => {
    open = r;
  });
  const ran: number[] = [];
  b.run = async (layouts) => {
    ran.push(layouts.length);
    await wait;
    return real(layouts);
  };
  return {
    ran,
    open: () => {
      b.run = real;
      open();
    },
  };
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error('timed out waiting');
};

describe('llara serve', () => {
  it('is healthy once loaded and describes itself on /info', async () => {
    const health = await call(main.url, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ status: 'ready' });
    const info = (await call(main.url, 'GET', '/info')).json;
    expect(info).toMatchObject({
      recipe: 'flag',
      base: 'f32',
      dims: H,
      model_name: 'stories260K',
      adapter: null,
    });
    expect(info.index).toMatchObject({ kind: 'flat', count: fx.docs.length, dims: H, texts: true });
    expect(info.limits.maxLen).toBe(TEST_LIMITS.maxLen);
    // On lavapipe padding changes no bit, so any lengths share a pass; other devices may measure less.
    expect(['mixed', 'equal-length', 'single']).toContain(info.batching);
  });

  it('gives every row the bits `llara embed` gives, whatever it was batched with', async () => {
    const before = metric((await call(main.url, 'GET', '/metrics')).text, 'llara_batch_size_count');
    // Overlapping groups of 1 to 7 inputs, in both roles and both encodings, all sent at once.
    const groups: number[][] = [];
    for (let start = 0, size = 1; start < fx.docs.length; start += size, size = (size % 7) + 1)
      groups.push(Array.from({ length: Math.min(size, fx.docs.length - start) }, (_, j) => start + j));
    groups.push([3, 15, 3, 0]);
    const qgroups = [[0], [1, 2, 3], [7, 6, 5, 4], [2]];
    const answers = await Promise.all([
      ...groups.map((g, n) =>
        call(main.url, 'POST', '/v1/embeddings', {
          input: g.map(passage),
          truncate: true,
          encoding_format: n % 2 ? 'base64' : 'float',
        }).then((a) => ({ a, g, all: fx.passages })),
      ),
      ...qgroups.map((g) =>
        call(main.url, 'POST', '/v1/embeddings', {
          input: g.map((i) => fx.queries[i].text),
          input_type: 'query',
          truncate: true,
          model: 'anything',
        }).then((a) => ({ a, g, all: fx.queryRows })),
      ),
    ]);
    for (const { a, g, all } of answers) {
      expect(a.status, a.text).toBe(200);
      expect(a.json.object).toBe('list');
      expect(a.json.usage.prompt_tokens).toBeGreaterThan(g.length * 40);
      expect(a.json.data.map((d: { index: number }) => d.index)).toEqual(g.map((_, j) => j));
      g.forEach((i, j) => {
        expect(bytes(rowOf(a.json.data[j].embedding)).equals(bytes(row(all, i)))).toBe(true);
      });
    }
    const m = (await call(main.url, 'GET', '/metrics')).text;
    // Fewer passes than requests: concurrent requests shared forward passes (unless this device's
    // probe allowed one row per pass only).
    if (main.engine.mode !== 'single')
      expect(metric(m, 'llara_batch_size_count') - before).toBeLessThan(answers.length);
    expect(m).toMatch(/llara_request_duration_seconds_bucket\{le="[\d.]+",route="\/v1\/embeddings"\}/);
    expect(metric(m, 'llara_embedded_tokens_total')).toBeGreaterThan(0);
  });

  it('searches like `llara search`, with texts, and exactly within an id filter', async () => {
    const q = fx.queries[0].text;
    const cli = await runCli([
      'search',
      '--index',
      fx.flatIndex,
      '--model',
      STORIES,
      '--max-len',
      String(TEST_LIMITS.maxLen),
      '--search-on',
      'cpu',
      '-k',
      '5',
      '--json',
      q,
    ]);
    expect(cli.code, cli.err).toBe(0);
    const a = await call(main.url, 'POST', '/search', { query: q, k: 5 });
    expect(a.status, a.text).toBe(200);
    expect(a.json.hits).toEqual(JSON.parse(cli.out).hits);
    expect(a.json.hits[0].text).toEqual(expect.any(String));
    const ids = ['3', '9', '14', 'no-such-id'];
    const f = await call(main.url, 'POST', '/search', { query: q, k: 2, filter: { ids } });
    const qv = (await call(main.url, 'POST', '/v1/embeddings', { input: q, input_type: 'query' })).json
      .data[0].embedding;
    const scored = ids
      .slice(0, 3)
      .map((id) => {
        const v = row(
          fx.passages,
          fx.docs.findIndex((d) => d._id === id),
        );
        return { id, score: v.reduce((s, x, i) => s + x * qv[i], 0) };
      })
      .sort((x, y) => y.score - x.score);
    expect(f.json.hits.map((h: { id: string }) => h.id)).toEqual(scored.slice(0, 2).map((h) => h.id));
    expect(f.json.hits[0].score).toBeCloseTo(scored[0].score, 6);
  });

  it('answers bad input with the right status and one sentence that never quotes the input', async () => {
    const long = `${MARKER} `.repeat(100);
    const cases: [
      string,
      string,
      unknown,
      { raw?: string | Uint8Array; headers?: Record<string, string> },
      number,
      RegExp,
    ][] = [
      ['POST', '/v1/embeddings', undefined, { raw: `{"input": "${MARKER}"` }, 400, /not valid JSON/],
      [
        'POST',
        '/v1/embeddings',
        undefined,
        { raw: Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]) },
        400,
        /not valid UTF-8/,
      ],
      [
        'POST',
        '/v1/embeddings',
        undefined,
        { raw: MARKER, headers: { 'content-type': 'text/plain' } },
        415,
        /must be JSON/,
      ],
      ['POST', '/v1/embeddings', { input: 42 }, {}, 422, /token-id inputs are not supported/],
      ['POST', '/v1/embeddings', { input: [MARKER, { a: 1 }] }, {}, 422, /input 1\.text must be a string/],
      ['POST', '/v1/embeddings', { input: '   ' }, {}, 422, /"input" is empty/],
      ['POST', '/v1/embeddings', { input: [] }, {}, 422, /empty array/],
      ['POST', '/v1/embeddings', { inputs: [MARKER] }, {}, 422, /"input" is required/],
      ['POST', '/v1/embeddings', [MARKER], {}, 422, /must be a JSON object, not an array/],
      [
        'POST',
        '/v1/embeddings',
        { input: MARKER, input_type: 'document' },
        {},
        422,
        /"input_type" must be "passage" or "query"/,
      ],
      ['POST', '/v1/embeddings', { input: MARKER, encoding_format: 'int8' }, {}, 422, /"encoding_format"/],
      [
        'POST',
        '/v1/embeddings',
        { input: MARKER, truncate: 'yes' },
        {},
        422,
        /"truncate" must be true or false/,
      ],
      ['POST', '/v1/embeddings', { input: MARKER, dimensions: 32 }, {}, 422, /"dimensions" must be 64/],
      ['POST', '/v1/embeddings', { input: Array(9).fill(MARKER) }, {}, 413, /--max-inputs/],
      [
        'POST',
        '/v1/embeddings',
        { input: 'x'.repeat(3001) },
        {},
        413,
        /longer than 3000 characters \(--max-input-chars\)/,
      ],
      [
        'POST',
        '/v1/embeddings',
        { input: long },
        {},
        413,
        /longer than 128 tokens .*--max-len.*"truncate": true/,
      ],
      [
        'POST',
        '/v1/embeddings',
        { input: ['ok', 'y'.repeat(60 * 1024)] },
        {},
        413,
        /larger than 49152 bytes \(--max-body-bytes\)/,
      ],
      ['POST', '/search', { query: MARKER, k: 51 }, {}, 413, /--max-k/],
      ['POST', '/search', { query: MARKER, k: 0 }, {}, 422, /"k" must be an integer >= 1/],
      ['POST', '/search', { query: MARKER, nprobe: 2 }, {}, 422, /"nprobe" applies to IVF/],
      ['POST', '/search', { query: MARKER, filter: ['1'] }, {}, 422, /"filter" must be an object/],
      ['POST', '/v2/embeddings', { input: MARKER }, {}, 404, /no route POST \/v2\/embeddings/],
      ['DELETE', '/health', undefined, {}, 404, /no route/],
    ];
    for (const [method, path, body, opts, status, message] of cases) {
      const a = await call(main.url, method, path, body, opts);
      expect(a.status, `${path} ${JSON.stringify(body)?.slice(0, 60)}`).toBe(status);
      expect(a.json.error.message).toMatch(message);
      expect(a.json.error.code).toBe(status);
      expect(a.json.error.message).not.toContain(MARKER);
      expect(a.json.error.message.split(/\.\s/).length, a.json.error.message).toBe(1);
    }
    // truncate: true embeds what `llara embed` embeds for the same long text: its cut-off prefix.
    const cut = await call(main.url, 'POST', '/v1/embeddings', { input: long, truncate: true });
    expect(cut.status).toBe(200);
    // The server kept serving, and its log holds no request text.
    expect((await call(main.url, 'GET', '/health')).status).toBe(200);
    expect(mainLog.join('\n')).not.toContain(MARKER);
    const m = (await call(main.url, 'GET', '/metrics')).text;
    expect(metric(m, 'llara_errors_total{kind="limit"}')).toBe(5);
  });

  it('warns when it listens beyond loopback without a key', () => {
    expect(exposureWarning('0.0.0.0', undefined)).toMatch(/without an API key/);
    expect(exposureWarning('0.0.0.0', 'k')).toBeNull();
    for (const host of ['127.0.0.1', 'localhost', '::1']) expect(exposureWarning(host, undefined)).toBeNull();
  });

  it('refuses an index of another model`s dimensions, or limits that cannot work, at start in one sentence', async () => {
    const npy = join(fx.dir, 'other.npy');
    await writeNpy(npy, { dtype: 'f4', shape: [3, 32], data: new Float32Array(96).fill(0.1) });
    const other = join(fx.dir, 'other-index');
    expect(
      (await runCli(['index', 'build', '--embeddings', npy, '--ids', writeIds(), '--out', other])).code,
    ).toBe(0);
    const r = await runCli(['serve', '--model', STORIES, '--index', other, '--port', '0']);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toMatch(
      /^llara: The index .* holds 32-dimensional vectors but the model .* embeds into 64 dimensions; serve it with the model that built it\.$/,
    );
    const flags = await runCli(['serve', '--max-len', '512', '--max-batch-tokens', '256', '--port', '0']);
    expect(flags.code).toBe(1);
    expect(flags.err).toMatch(/--max-batch-tokens 256 is below --max-len 512/);
    const short = await runCli(['serve', '--model', STORIES, '--max-len', '16', '--port', '0']);
    expect(short.code).toBe(1);
    expect(short.err.trim()).toMatch(
      /^llara: --max-len 16 leaves no room for the query text: the flag prompt alone takes \d+ tokens\.$/,
    );
  });
});

function writeIds(): string {
  const file = join(fx.dir, 'other.ids.json');
  writeFileSync(file, '["a","b","c"]');
  return file;
}

describe('llara serve under pressure (IVF index, API key, --log-inputs)', () => {
  let s: RunningServer;
  const log: string[] = [];
  const key = 'test-key-1';

  beforeAll(async () => {
    s = await startServer({
      model: STORIES,
      recipe: 'flag',
      index: fx.ivfIndex,
      host: '127.0.0.1',
      port: 0,
      apiKey: key,
      logInputs: true,
      limits: { ...TEST_LIMITS, maxConcurrentRequests: 2, requestTimeoutMs: 3000 },
      log: (l) => log.push(l),
    });
  });
  afterAll(async () => {
    await s?.close();
  });

  const post = (path: string, body: unknown, signal?: AbortSignal) =>
    call(s.url, 'POST', path, body, { apiKey: key, signal });
  const embedQuery = (i: number, signal?: AbortSignal) =>
    post('/v1/embeddings', { input: fx.queries[i].text, input_type: 'query', truncate: true }, signal);
  const sameAsReference = (a: Awaited<ReturnType<typeof call>>, i: number) =>
    bytes(rowOf(a.json.data[0].embedding)).equals(bytes(row(fx.queryRows, i)));

  it('needs the key on every route but /health', async () => {
    expect((await call(s.url, 'GET', '/health')).status).toBe(200);
    for (const path of ['/info', '/metrics', '/nope']) {
      const a = await call(s.url, 'GET', path);
      expect(a.status).toBe(401);
      expect(a.headers.get('www-authenticate')).toBe('Bearer');
      expect((await call(s.url, 'GET', path, undefined, { apiKey: 'wrong' })).status).toBe(401);
    }
    expect((await call(s.url, 'GET', '/info', undefined, { apiKey: key })).status).toBe(200);
  });

  it('searches an IVF index like `llara search --nprobe`, and logs inputs only when asked', async () => {
    const q = `${fx.queries[1].text} ${MARKER}`;
    const cli = await runCli([
      'search',
      '--index',
      fx.ivfIndex,
      '--model',
      STORIES,
      '--max-len',
      String(TEST_LIMITS.maxLen),
      '--nprobe',
      '3',
      '-k',
      '4',
      '--json',
      q,
    ]);
    expect(cli.code, cli.err).toBe(0);
    const a = await post('/search', { query: q, k: 4, nprobe: 3 });
    expect(a.status, a.text).toBe(200);
    expect(a.json.hits).toEqual(JSON.parse(cli.out).hits);
    expect(log.join('\n')).toContain(MARKER);
  });

  it('answers 429 with Retry-After when --max-concurrent-requests are in flight', async () => {
    const g = gate(s);
    const held = [embedQuery(0), embedQuery(1)];
    await until(() => s.server.admission.inFlight === 2);
    const third = await embedQuery(2);
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('1');
    expect(third.json.error.message).toMatch(/--max-concurrent-requests/);
    g.open();
    for (const [i, p] of held.entries()) expect(sameAsReference(await p, i)).toBe(true);
  });

  it('answers 503 after --request-timeout, and drops the work of a client that left', async () => {
    const g = gate(s);
    const first = embedQuery(0);
    await until(() => g.ran.length === 1);
    const leaving = new AbortController();
    const left = embedQuery(1, leaving.signal).catch((e: Error) => e.name);
    await until(() => s.engine.batcher.queued === 1);
    leaving.abort();
    expect(await left).toBe('AbortError');
    const slow = await first;
    expect(slow.status).toBe(503);
    expect(slow.headers.get('retry-after')).toBe('1');
    expect(slow.json.error.message).toMatch(/longer than 3000 ms \(--request-timeout\)/);
    g.open();
    await s.engine.batcher.idle();
    // The departed client's input never reached the GPU, and the server serves the next one.
    expect(g.ran).toEqual([1]);
    expect(s.engine.batcher.queued).toBe(0);
    expect(sameAsReference(await embedQuery(3), 3)).toBe(true);
  });

  it('answers 503 when the GPU device is lost, reloads on a new device and is healthy again', async () => {
    const g = gate(s);
    const running = embedQuery(0);
    await until(() => g.ran.length === 1);
    const queued = embedQuery(1);
    await until(() => s.engine.batcher.queued === 1);
    // Destroying the GPUDevice behind the Gpu's back is what a driver reset looks like from WebGPU.
    s.engine.gpu!.device.destroy();
    const q = await queued;
    expect(q.status).toBe(503);
    expect(q.json.error.message).toMatch(/GPU device was lost/);
    g.open();
    expect((await running).status).toBe(503);
    await s.engine.settled();
    await until(() => s.engine.state === 'ready');
    expect((await call(s.url, 'GET', '/health')).status).toBe(200);
    expect(s.engine.reloads).toBe(1);
    expect(sameAsReference(await embedQuery(2), 2)).toBe(true);
    const m = (await call(s.url, 'GET', '/metrics', undefined, { apiKey: key })).text;
    expect(metric(m, 'llara_device_reloads_total')).toBe(1);
  });

  it('on shutdown finishes the request in flight and refuses new ones', async () => {
    const g = gate(s);
    const inFlight = embedQuery(4);
    await until(() => g.ran.length === 1);
    const closed = s.close();
    const refused = await embedQuery(5).then(
      (a) => a.status,
      () => 'refused',
    );
    expect([503, 'refused']).toContain(refused);
    g.open();
    expect(sameAsReference(await inFlight, 4)).toBe(true);
    await closed;
    expect(s.engine.state).toBe('closed');
    await expect(call(s.url, 'GET', '/health')).rejects.toThrow();
  });
});
