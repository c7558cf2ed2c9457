/**
 * The demo page end to end in Debian's Chromium on its software WebGPU adapter (SwiftShader): build the
 * app, serve it with `vite preview`, load stories260K, embed five documents, search, and check the
 * ranking, the adapter path, the folder picker and an error message. Leaves a screenshot in
 * apps/web/test-output/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@llara/gpu';
import { initLoraWeights, type LoraConfig, parseLlamaConfig } from '@llara/llama';
import { writeAdapterFolder } from '@llara/llama/node';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServedApp, serveApp } from './test-browser.ts';

const appDir = fileURLToPath(new URL('..', import.meta.url));
const dataDir = fileURLToPath(new URL('../../../data/', import.meta.url));
const screenshot = join(appDir, 'test-output/web-demo.png');

// Five documents and queries whose ranking stories260K (a TinyStories model, not trained for retrieval)
// gets right: it matches near-verbatim text, not topics, so the queries repeat most of one document.
const DOCUMENTS = [
  'The wing produces lift when air flows over its curved upper surface.',
  'Heat transfer from a hot plate to a cold fluid depends on the temperature difference.',
  'The boundary layer grows thicker along the flat plate as the flow moves downstream.',
  'A rocket engine burns fuel and oxygen to push hot gas out of its nozzle.',
  'Shock waves form in front of a body flying faster than the speed of sound.',
];
const HEAT_QUERY = 'heat transfer from a hot plate to a cold fluid depends on temperature difference';
const ROCKET_QUERY = DOCUMENTS[3];

let app: ServedApp | undefined;
let page: Page;
let adapterDir = '';
const pageErrors: string[] = [];

/** A small PEFT adapter with non-zero B, so applying it visibly changes the embeddings. */
async function writeTestAdapter(dir: string): Promise<void> {
  const model = parseLlamaConfig(
    JSON.parse(await readFile(join(dataDir, 'models/stories260K/config.json'), 'utf8')),
  );
  const config: LoraConfig = {
    r: 4,
    alpha: 8,
    dropout: 0,
    targets: ['q_proj', 'v_proj', 'o_proj'],
    useRslora: false,
    baseModel: null,
    modulesToSave: [],
  };
  const weights = initLoraWeights(config, model, 7);
  const rand = seededRandom(11);
  for (const layer of weights.layers)
    for (const m of Object.values(layer))
      for (let i = 0; i < m.B.length; i++) m.B[i] = (2 * rand() - 1) * 0.5;
  await writeAdapterFolder(dir, weights);
}

async function waitForText(testId: string, pattern: RegExp, timeout = 60_000): Promise<string> {
  await page.waitForFunction(
    ({ id, source, flags }) => {
      const el = document.querySelector(`[data-testid="${id}"]`);
      const error = document.querySelector<HTMLElement>('[data-testid="error"]');
      if (error && !error.hidden) throw new Error(`The page shows an error: ${error.textContent}`);
      if (document.body.dataset.busy === 'true') return false;
      return el !== null && new RegExp(source, flags).test(el.textContent ?? '');
    },
    { id: testId, source: pattern.source, flags: pattern.flags },
    { timeout },
  );
  return (await page.getByTestId(testId).textContent()) ?? '';
}

async function results(query: string): Promise<{ id: string; score: number }[]> {
  await page.waitForFunction(
    (q) => document.querySelector<HTMLElement>('[data-testid="results"]')?.dataset.query === q,
    query,
    { timeout: 30_000 },
  );
  return page.$$eval('[data-testid="result"]', (els) =>
    els.map((el) => ({
      id: (el as HTMLElement).dataset.id ?? '',
      score: Number(el.querySelector('[data-testid="result-score"]')?.textContent),
    })),
  );
}

async function loadDefaultModel(withAdapter: boolean): Promise<string> {
  await page.getByTestId('use-adapter').setChecked(withAdapter);
  await page.getByTestId('load-default').click();
  return waitForText('model-status', /^Loaded /);
}

async function embedDocuments(): Promise<string> {
  await page.getByTestId('embed').click();
  return waitForText('embed-status', /^Embedded /);
}

describe('web demo in Chromium', () => {
  beforeAll(async () => {
    adapterDir = mkdtempSync(join(tmpdir(), 'llara-web-adapter-'));
    await writeTestAdapter(adapterDir);
    // Read by vite.config.ts when build/preview load it.
    process.env.LLARA_DEMO_ADAPTER_DIR = adapterDir;
    app = await serveApp();
    page = await app.browser.newPage({ viewport: { width: 1100, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(app.url);
  });

  afterAll(async () => {
    await app?.close();
    delete process.env.LLARA_DEMO_ADAPTER_DIR;
    if (adapterDir) rmSync(adapterDir, { recursive: true, force: true });
  });

  it('shows the WebGPU device and finds the demo adapter', async () => {
    const summary = await waitForText('device-summary', / · f16: (yes|no) · subgroups: /, 30_000);
    expect(summary).not.toMatch(/No WebGPU/);
    expect(await page.getByTestId('device').textContent()).toMatch(/^adapter: /);
    await expect
      .poll(() => page.getByTestId('adapter-note').textContent())
      .toMatch(/^Demo adapter found at \/demo-adapter\//);
    expect(await page.getByTestId('load-default').isEnabled()).toBe(true);
  });

  it('loads stories260K, embeds five documents and ranks the matching one first', async () => {
    const status = await loadDefaultModel(false);
    expect(status).toMatch(/^Loaded bundled stories260K: /);
    expect(status).toMatch(/5 layers, hidden 64, vocab 512 \+ 16 flag tokens/);
    expect(status).toMatch(/no adapter/);
    await page.getByTestId('documents').fill(DOCUMENTS.join('\n'));
    expect(await embedDocuments()).toMatch(/^Embedded 5 documents \(\d[\d,]* tokens, 64 dimensions\)/);

    // Typed key by key, so the debounced search-as-you-type path runs, not a single input event.
    await page.getByTestId('query').pressSequentially(HEAT_QUERY);
    const heat = await results(HEAT_QUERY);
    expect(heat.map((h) => h.id)).toHaveLength(5);
    expect(heat[0].id).toBe('line 2');
    for (let i = 1; i < heat.length; i++) expect(heat[i].score).toBeLessThanOrEqual(heat[i - 1].score);
    for (const h of heat) expect(Math.abs(h.score)).toBeLessThanOrEqual(1.0001);

    await page.getByTestId('query').fill(ROCKET_QUERY);
    const rocket = await results(ROCKET_QUERY);
    expect(rocket[0].id).toBe('line 4');
    expect(rocket[0].score).toBeGreaterThan(rocket[1].score);

    expect(await page.getByTestId('time-load').textContent()).toMatch(/ ms$/);
    expect(await page.getByTestId('time-embed').textContent()).toMatch(/ ms$/);
    expect(await page.getByTestId('time-rate').textContent()).toMatch(/docs\/s/);
    expect(await page.getByTestId('time-query').textContent()).toMatch(/ ms$/);
    mkdirSync(join(appDir, 'test-output'), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it('applies the demo adapter, which changes the scores', async () => {
    await page.getByTestId('query').fill(ROCKET_QUERY);
    const base = await results(ROCKET_QUERY);
    const status = await loadDefaultModel(true);
    expect(status).toMatch(/LoRA adapter r=4 from .*\/demo-adapter/);
    // A new model invalidates the index until the documents are embedded again.
    expect(await page.getByTestId('query').isDisabled()).toBe(true);
    await embedDocuments();
    await page.getByTestId('query').fill(`${ROCKET_QUERY} `);
    const adapted = await results(ROCKET_QUERY);
    expect(adapted).toHaveLength(5);
    const baseScore = new Map(base.map((h) => [h.id, h.score]));
    const changed = adapted.filter((h) => Math.abs(h.score - baseScore.get(h.id)!) > 1e-3);
    expect(changed.length).toBeGreaterThan(0);
  });

  it('loads a model folder picked with <input webkitdirectory>', async () => {
    await page.getByTestId('use-adapter').setChecked(true);
    await page.getByTestId('model-folder').setInputFiles(join(dataDir, 'models/stories260K'));
    const status = await waitForText('model-status', /^Loaded /);
    // The bundled folder has no adapter files, so none is applied even with the box ticked.
    expect(status).toMatch(/^Loaded stories260K: 5 layers, .* no adapter\.$/);
  });

  it('loads the first 200 Cranfield documents with their ids', async () => {
    await page.getByTestId('load-cranfield').click();
    await waitForText('documents-note', /Cranfield/);
    expect(await page.getByTestId('documents-note').textContent()).toMatch(
      /^the first 200 Cranfield documents/,
    );
    const lines = (await page.getByTestId('documents').inputValue()).split('\n');
    expect(lines).toHaveLength(200);
    expect(lines[0]).toMatch(/^experimental investigation of the aerodynamics of a wing in a slipstream/);
  });

  it('reports a malformed .jsonl line as one sentence naming the file and line', async () => {
    await page.getByTestId('documents-file').setInputFiles({
      name: 'broken.jsonl',
      mimeType: 'application/jsonl',
      buffer: Buffer.from('{"_id": "a", "text": "fine"}\n{"_id": "b", "text": \n'),
    });
    const error = page.getByTestId('error');
    await expect.poll(() => error.isVisible()).toBe(true);
    const message = (await error.textContent()) ?? '';
    expect(message).toMatch(/^broken\.jsonl line 2 /);
    expect(message.split(/\.\s/)).toHaveLength(1);
    expect(pageErrors).toEqual([]);
  });
});
