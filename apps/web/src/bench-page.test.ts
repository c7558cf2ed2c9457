/**
 * bench.html end to end in Debian's Chromium (SwiftShader): the kernel suite runs on the page's WebGPU
 * device and renders the same report as `pnpm bench`, with well-formed rows. Leaves the result in
 * apps/web/test-output/browser-bench.json and .md (smoke shapes: not performance claims).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
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
  it('runs the smoke suite on the page device and reports every kernel', async () => {
    await page.goto(`${app!.url}bench.html?run=smoke`);
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
    const report = (await page.getByTestId('report').textContent()) ?? '';
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'browser-bench.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(outDir, 'browser-bench.md'), report);

    expect(result.meta.browser).toMatch(/Chrome\//);
    expect(result.meta.smoke).toBe(true);
    for (const r of result.rows) expect(rowProblems(r), r.key).toEqual([]);
    const kernels = new Set(result.rows.map((r) => r.name.split(' ')[0]));
    for (const k of [
      'matmul',
      'attention_forward',
      'attention_backward',
      'rmsnorm',
      'rope',
      'swiglu',
      'adamw',
    ])
      expect(
        [...kernels].some((name) => name.startsWith(k)),
        `${k} in ${[...kernels].join(', ')}`,
      ).toBe(true);
    // What a browser without subgroup matrices cannot run is listed, not silently dropped.
    for (const f of result.failures) expect(f.error, f.key).toMatch(/^skipped: /);
    expect(report).toMatch(/^# LLaRA on WebGPU: benchmark run/);
    expect(report).toContain('browser: Mozilla/5.0');
    expect(report).toMatch(/\| matmul /);
    expect(await page.getByTestId('status').textContent()).toMatch(/^\d+ measured, \d+ not measured, in /);
    expect(pageErrors).toEqual([]);
  });
});
