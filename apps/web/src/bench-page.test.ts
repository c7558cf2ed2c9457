/**
 * bench.html end to end in Debian's Chromium (SwiftShader): the kernel suite runs on the page's WebGPU
 * device, then the tiny peer comparisons (TensorFlow.js WebGPU, ONNX Runtime Web's WebGPU EP) on the
 * same device; the report renders as HTML tables with charts, the markdown and JSON download, and the
 * device line agrees with the page header. A kernel filter that selects nothing says so. Leaves the
 * result in apps/web/test-output/browser-bench.json and .md (smoke shapes: not performance claims).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchResult, rowProblems } from '@llara/benchmarks/browser';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServedApp, serveApp } from './test-browser.ts';

const outDir = fileURLToPath(new URL('../test-output/', import.meta.url));

let app: ServedApp | undefined;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  app = await serveApp();
  page = await app.browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
});
afterAll(async () => {
  await app?.close();
});

describe('kernel benchmark page in Chromium', () => {
  it('runs a smoke subset with its peer twins and renders tables, charts and downloads', async () => {
    // RMSNorm alone keeps this test short: on SwiftShader most of the time is shader compilation
    // (seconds per pipeline), and RMSNorm is shared with both peers; `pnpm bench` runs everything.
    await page.goto(`${app!.url}bench.html?run=smoke&only=rmsnorm`);
    await page.waitForFunction(
      () => {
        const error = document.querySelector<HTMLElement>('[data-testid="error"]');
        if (error && !error.hidden) throw new Error(`The page shows an error: ${error.textContent}`);
        return document.body.dataset.done === 'true';
      },
      undefined,
      { timeout: 100_000 },
    );
    const result = (await page.evaluate(() => window.llaraBench)) as BenchResult;
    // The markdown is a download now; the page shows tables.
    const [mdDownload] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('download-md').click(),
    ]);
    const md = readFileSync((await mdDownload.path()) as string, 'utf8');
    const [jsonDownload] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('download').click(),
    ]);
    const json = JSON.parse(readFileSync((await jsonDownload.path()) as string, 'utf8')) as BenchResult;
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'browser-bench.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(outDir, 'browser-bench.md'), md);

    expect(json.rows.length).toBe(result.rows.length);
    expect(result.meta.browser).toMatch(/Chrome\//);
    expect(result.meta.smoke).toBe(true);
    for (const r of result.rows) expect(rowProblems(r), r.key).toEqual([]);
    expect(result.rows.map((r) => r.name).sort()).toEqual(['rmsnorm', 'rmsnorm_backward']);
    // What a browser without subgroup matrices (or a peer without f16) cannot run is listed, not dropped.
    for (const f of result.failures) expect(f.error, f.key).toMatch(/^skipped: /);
    expect(md).toMatch(/^# LLaRA on WebGPU: benchmark run/);
    expect(md).toContain('browser: Mozilla/5.0');
    expect(md).toMatch(/\| rmsnorm +\|/);
    expect(md).toContain('## Beside the WebGPU peers');

    // Peers: both ran every tiny case on this device, agreed with ours, and carry a ratio.
    const peers = result.peers ?? [];
    for (const id of ['tfjs', 'ort']) {
      const mine = peers.filter((p) => p.peer === id);
      expect(
        mine.map((p) => p.op),
        id,
      ).toEqual(['rmsnorm']);
      for (const p of mine) {
        expect(p.status, `${p.key}: ${p.error}`).toBe('ok');
        expect(p.check.pass, p.key).toBe(true);
        expect(p.ratio, p.key).toBeGreaterThan(0);
      }
    }

    // The report is HTML tables, not markdown text: no pipes, no escaped \|.
    const reportText = (await page.getByTestId('report').textContent()) ?? '';
    expect(reportText).not.toContain('\\|');
    expect(reportText).not.toMatch(/\| -{3,}/);
    const kernelRows = page.locator('[data-testid="report"] table[data-table="kernels"] tbody tr');
    expect(await kernelRows.count()).toBe(result.rows.length);
    const peerRows = page.locator('[data-testid="report"] table[data-table="peers"] tbody tr');
    expect(await peerRows.count()).toBe(peers.length);
    for (const cells of await peerRows.evaluateAll((trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')),
    )) {
      expect(cells.at(-1)).toMatch(/^\d+(\.\d+)?x$/);
      expect(cells[4]).toMatch(/^pass \(/);
    }
    // One bar per measured row in the charts (here GB/s for the memory-bound rows, then the peer ratios).
    expect(await page.locator('[data-testid="chart"] svg').count()).toBe(2);
    const bars = await page.locator('[data-testid="chart"] rect.chart-bar').count();
    expect(bars).toBe(result.rows.filter((r) => r.gflops || r.gbps).length + peers.length);

    // The device line says what the page header says: the same adapter name and vendor.
    const header = (await page.getByTestId('device-summary').textContent()) ?? '';
    const deviceLine = (await page.locator('[data-testid="report"] li').first().textContent()) ?? '';
    expect(deviceLine.startsWith('date:')).toBe(true);
    const device = (await page.locator('[data-testid="report"] li').nth(1).textContent()) ?? '';
    expect(header.startsWith(result.meta.device)).toBe(true);
    expect(device).toContain(`device: ${result.meta.device}`);
    if (result.meta.vendor) {
      expect(header).toContain(`(${result.meta.vendor}`);
      expect(device).toContain(`vendor ${result.meta.vendor}`);
    }
    // Not the "(unknown, ...)" of a browser that hides the backend type.
    expect(device.split(';')[0]).not.toContain('unknown');
    expect(await page.getByTestId('status').textContent()).toMatch(
      /^\d+ measured, \d+ not measured, \d+ peer comparisons, in /,
    );
    expect(pageErrors).toEqual([]);
  });

  it('says so when the kernel filter matches nothing, and runs nothing', async () => {
    await page.goto(`${app!.url}bench.html?run=smoke&only=nosuchkernel`);
    const error = page.getByTestId('error');
    await error.waitFor({ state: 'visible', timeout: 30_000 });
    expect(await error.textContent()).toMatch(
      /^No kernel matches "nosuchkernel": use name prefixes such as matmul/,
    );
    expect(await page.getByTestId('status').textContent()).toBe('Nothing run.');
    expect(await page.evaluate(() => document.body.dataset.done)).toBeUndefined();
    expect(await page.getByTestId('download').isDisabled()).toBe(true);
  });
});
