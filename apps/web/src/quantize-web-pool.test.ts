/**
 * The browser quantize pool in headless Chromium: a dedicated worker (as the demo's model worker) runs
 * `createWebQuantizePool` with its threshold lowered, so a small matrix is split over several nested
 * workers; the words must equal `quantizeRawTensor`'s bit for bit in every format, on a plain page
 * (rows travel as transferred copies, as in the demo) and on a cross-origin-isolated one (shared
 * memory). The worker is bundled by Vite, minified, as the demo's is.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { f32ToBf16Bits, f32ToF16Bits, type QuantFormat, seededRandom } from '@llara/gpu';
import { quantizeRawTensor } from '@llara/llama';
import { type Browser, chromium } from 'playwright-core';
import { build, type Rolldown } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_FLAGS } from './test-browser.ts';
import type { QuantizeAnswer, QuantizeCase, QuantizeRun } from './test-quantize-worker.ts';

const ROWS = 97;
const COLS = 200; // not a multiple of 32 or 64: every row ends in a partial block

/** The worker as one minified classic script. */
async function bundleWorker(): Promise<string> {
  const entry = fileURLToPath(new URL('./test-quantize-worker.ts', import.meta.url));
  const out = (await build({
    configFile: false,
    logLevel: 'warn',
    build: {
      write: false,
      minify: true,
      target: 'es2022',
      lib: { entry, formats: ['iife'], name: 'quantizeTest', fileName: () => 'worker.js' },
    },
  })) as Rolldown.RolldownOutput | Rolldown.RolldownOutput[];
  const chunk = (Array.isArray(out) ? out[0] : out).output[0];
  if (chunk.type !== 'chunk') throw new Error('Vite gave no worker chunk.');
  return chunk.code;
}

/** Serves the page and the worker; under /isolated/ with the headers that make it cross-origin isolated. */
function serve(worker: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path.startsWith('/isolated/')) {
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
      res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    }
    if (path.endsWith('/worker.js')) {
      res.setHeader('Content-Type', 'text/javascript');
      res.end(worker);
    } else if (path.endsWith('/')) {
      res.setHeader('Content-Type', 'text/html');
      res.end('<!doctype html><title>quantize pool</title>');
    } else {
      res.statusCode = 204; // the favicon
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function matrixBytes(dtype: QuantizeCase['dtype'], values: Float32Array): string {
  if (dtype === 'F32') return Buffer.from(values.buffer).toString('base64');
  const bits = Uint16Array.from(values, (v) => (dtype === 'F16' ? f32ToF16Bits(v) : f32ToBf16Bits(v)));
  return Buffer.from(bits.buffer).toString('base64');
}

function cases(): QuantizeCase[] {
  const rand = seededRandom(17);
  const values = Float32Array.from({ length: ROWS * COLS }, () => (rand() * 2 - 1) * 0.05);
  // A zero block and an outlier, so the zero code and a wide scale are in there too.
  values.fill(0, 3 * COLS, 3 * COLS + 64);
  values[40 * COLS + 7] = 3;
  const out: QuantizeCase[] = [];
  for (const format of ['q8', 'q4', 'nf4'] as QuantFormat[])
    for (const dtype of ['F16', 'BF16', 'F32'] as const)
      out.push({ format, dtype, shape: [ROWS, COLS], bytes: matrixBytes(dtype, values) });
  // A non-finite value in row 50 (the middle of some worker's slice): the error names the matrix row.
  const bad = values.slice();
  bad[50 * COLS + 5] = Number.POSITIVE_INFINITY;
  out.push({ format: 'q4', dtype: 'F32', shape: [ROWS, COLS], bytes: matrixBytes('F32', bad) });
  return out;
}

describe('createWebQuantizePool in Chromium', () => {
  let browser: Browser;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    server = await serve(await bundleWorker());
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  for (const isolated of [false, true])
    it(`gives quantizeRawTensor's words bit for bit over nested workers (${isolated ? 'shared memory' : 'transferred rows'})`, async () => {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
      });
      page.on('response', (r) => {
        if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
      });
      await page.goto(`${base}/${isolated ? 'isolated' : 'plain'}/`);
      const run: QuantizeRun = { workers: 4, small: 1000, cases: cases() };
      const answer = await page.evaluate(
        (r) =>
          new Promise<QuantizeAnswer>((resolve, reject) => {
            const w = new Worker('worker.js');
            w.onmessage = (e) => {
              w.terminate();
              resolve(e.data);
            };
            w.onerror = (e) => reject(new Error(e.message));
            w.postMessage(r);
          }),
        run,
      );
      await page.close();
      expect(answer.isolated).toBe(isolated);
      expect(answer.threads).toBe(4);
      run.cases.forEach((c, i) => {
        const raw = { dtype: c.dtype, shape: c.shape, data: new Uint8Array(Buffer.from(c.bytes, 'base64')) };
        const got = answer.results[i];
        if (i === run.cases.length - 1) {
          expect(got).toEqual({
            error: 'tensor w row 50: cannot quantize the non-finite value Infinity (column 5).',
          });
          expect(() => quantizeRawTensor(raw, c.format, 'tensor w')).toThrow(/row 50:/);
          return;
        }
        const want = quantizeRawTensor(raw, c.format, 'tensor w');
        expect(
          'words' in got ? new Uint32Array(new Uint8Array(Buffer.from(got.words, 'base64')).buffer) : got,
          `${c.format} from ${c.dtype}`,
        ).toEqual(want);
      });
      expect(problems).toEqual([]);
    });
});
