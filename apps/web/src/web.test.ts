/**
 * The demo page end to end in Debian's Chromium on its software WebGPU adapter (SwiftShader): build the
 * app, serve it with `vite preview`, load stories260K, embed five documents, search, and check the
 * ranking, the adapter path, the folder picker and an error message, with no error or 404 in the console.
 * Leaves a screenshot in apps/web/test-output/. web-state.test.ts covers what happens when state changes.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServedApp, serveApp } from './test-browser.ts';
import { DemoPage, writeTestAdapter } from './test-page.ts';

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
let demo: DemoPage;
const page = () => demo.page;
let adapterDir = '';

describe('web demo in Chromium', () => {
  beforeAll(async () => {
    adapterDir = mkdtempSync(join(tmpdir(), 'llara-web-adapter-'));
    await writeTestAdapter(adapterDir, dataDir);
    // Read by vite.config.ts when build/preview load it.
    process.env.LLARA_DEMO_ADAPTER_DIR = adapterDir;
    app = await serveApp();
    demo = await DemoPage.open(app.browser, app.url);
  });

  afterAll(async () => {
    await app?.close();
    delete process.env.LLARA_DEMO_ADAPTER_DIR;
    if (adapterDir) rmSync(adapterDir, { recursive: true, force: true });
  });

  it('shows the WebGPU device and finds the demo adapter', async () => {
    expect(await demo.text('device-summary')).not.toMatch(/No WebGPU/);
    expect(await demo.text('device')).toMatch(/^adapter: /);
    await expect.poll(() => demo.text('adapter-note')).toMatch(/^Demo adapter found at \/demo-adapter\//);
    expect(await page().getByTestId('use-adapter').isChecked()).toBe(true);
    expect(await page().getByTestId('load-default').isEnabled()).toBe(true);
    // The device (and later the model and the index) belongs to the page's model worker.
    expect(
      page()
        .workers()
        .some((w) => /\/model-worker[^/]*\.js$/.test(w.url())),
    ).toBe(true);
  });

  it('loads stories260K, embeds five documents and ranks the matching one first', async () => {
    const status = await demo.loadDefaultModel(false);
    expect(status).toMatch(/^Loaded bundled stories260K: /);
    expect(status).toMatch(/5 layers, hidden 64, vocab 512 \+ 16 flag tokens/);
    expect(status).toMatch(/LoRA adapter r=4 from \/demo-adapter \(not applied\)\.$/);
    await page().getByTestId('documents').fill(DOCUMENTS.join('\n'));
    expect(await demo.embedDocuments()).toMatch(/^Embedded 5 documents \(\d[\d,]* tokens, 64 dimensions\)/);
    expect(await page().getByTestId('embed-note').isHidden()).toBe(true);

    // Typed key by key, so the debounced search-as-you-type path runs, not a single input event.
    await page().getByTestId('query').pressSequentially(HEAT_QUERY);
    const heat = await demo.results(HEAT_QUERY);
    expect(heat.map((h) => h.id)).toHaveLength(5);
    expect(heat[0].id).toBe('line 2');
    for (let i = 1; i < heat.length; i++) expect(heat[i].score).toBeLessThanOrEqual(heat[i - 1].score);
    for (const h of heat) expect(Math.abs(h.score)).toBeLessThanOrEqual(1.0001);
    // The bundled model's scores come with the caveat that they are not relevance.
    expect(await demo.text('results-note')).toMatch(/^stories260K shows the pipeline, not relevance/);
    expect(await demo.text('model-note')).toMatch(/0\.26M-parameter [\s\S]* not retrieval quality/);

    await page().getByTestId('query').fill(ROCKET_QUERY);
    const rocket = await demo.results(ROCKET_QUERY);
    expect(rocket[0].id).toBe('line 4');
    expect(rocket[0].score).toBeGreaterThan(rocket[1].score);

    expect(await demo.text('time-load')).toMatch(/ ms$/);
    expect(await demo.text('time-embed')).toMatch(/ ms$/);
    expect(await demo.text('time-rate')).toMatch(/docs\/s/);
    expect(await demo.text('time-query')).toMatch(/ ms$/);
    mkdirSync(join(appDir, 'test-output'), { recursive: true });
    await page().screenshot({ path: screenshot, fullPage: true });
    expect(demo.problems).toEqual([]);
  });

  it('applies the demo adapter, which changes the scores', async () => {
    await page().getByTestId('query').fill(ROCKET_QUERY);
    const base = await demo.results(ROCKET_QUERY);
    const status = await demo.loadDefaultModel(true);
    expect(status).toMatch(/LoRA adapter r=4 from \/demo-adapter\.$/);
    // A new model invalidates the index until the documents are embedded again.
    expect(await page().getByTestId('query').isDisabled()).toBe(true);
    await demo.embedDocuments();
    await page().getByTestId('query').fill(`${ROCKET_QUERY} `);
    const adapted = await demo.results(ROCKET_QUERY);
    expect(adapted).toHaveLength(5);
    const baseScore = new Map(base.map((h) => [h.id, h.score]));
    const changed = adapted.filter((h) => Math.abs(h.score - baseScore.get(h.id)!) > 1e-3);
    expect(changed.length).toBeGreaterThan(0);
  });

  it('loads a model folder picked with <input webkitdirectory>', async () => {
    await page().getByTestId('model-folder').setInputFiles(join(dataDir, 'models/stories260K'));
    const status = await demo.waitForText('model-status', /^Loaded stories/);
    // The bundled folder has no adapter files, so none is applied and the box cannot be ticked.
    expect(status).toMatch(/^Loaded stories260K: 5 layers, .* no adapter\.$/);
    expect(await page().getByTestId('use-adapter').isChecked()).toBe(false);
    expect(await page().getByTestId('use-adapter').isDisabled()).toBe(true);
  });

  it('loads a picked folder with nf4 base weights, quantized in the model worker', async () => {
    await page().getByTestId('quantize').selectOption('nf4');
    await page().getByTestId('model-folder').setInputFiles(join(dataDir, 'models/stories260K'));
    const status = await demo.waitForText('model-status', /nf4 base/);
    expect(status).toMatch(/^Loaded stories260K: 5 layers, .*, nf4 base, no adapter\.$/);
    await page().getByTestId('quantize').selectOption('');
    expect(demo.problems).toEqual([]);
  });

  it('loads the first 200 Cranfield documents with their ids', async () => {
    await page().getByTestId('load-cranfield').click();
    await demo.waitForText('documents-note', /Cranfield/);
    expect(await demo.text('documents-note')).toMatch(/^the first 200 Cranfield documents/);
    const lines = (await page().getByTestId('documents').inputValue()).split('\n');
    expect(lines).toHaveLength(200);
    expect(lines[0]).toMatch(/^experimental investigation of the aerodynamics of a wing in a slipstream/);
  });

  it('reports a malformed .jsonl line as one sentence naming the file and line', async () => {
    await page()
      .getByTestId('documents-file')
      .setInputFiles({
        name: 'broken.jsonl',
        mimeType: 'application/jsonl',
        buffer: Buffer.from('{"_id": "a", "text": "fine"}\n{"_id": "b", "text": \n'),
      });
    const message = await demo.waitForError();
    expect(message).toMatch(/^broken\.jsonl line 2 /);
    expect(message.split(/\.\s/)).toHaveLength(1);
    expect(demo.problems).toEqual([]);
  });
});
