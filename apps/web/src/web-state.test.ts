/**
 * The demo page when things change under it, in headless Chromium (see web.test.ts for the main path):
 * edits during embedding, a bad model folder, binary document files, text cut at the token limit,
 * displays that must reset, and the adapter box. Served without a demo adapter; the console must stay
 * free of errors and 404s throughout.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServedApp, serveApp } from './test-browser.ts';
import { DemoPage, writeTestAdapter } from './test-page.ts';

const dataDir = fileURLToPath(new URL('../../../data/', import.meta.url));
const modelDir = join(dataDir, 'models/stories260K');
const MODEL_FILES = ['config.json', 'tokenizer.json', 'model.safetensors'];

const THREE = [
  'The wing produces lift when air flows over its curved upper surface.',
  'A rocket engine burns fuel and oxygen to push hot gas out of its nozzle.',
  'Shock waves form in front of a body flying faster than the speed of sound.',
];
// Twenty batches of short documents: the model worker embeds them while the page stays free, so the
// edit lands after the first batch is reported and the worker's run stops at its next batch.
const MANY = Array.from({ length: 320 }, (_, i) => `Old note ${i}.`);

let app: ServedApp | undefined;
let demo: DemoPage;
let work = '';
const page = () => demo.page;

/** The stories260K files in `work/name`, with `config.json` replaced when given. */
function modelFolder(name: string, config?: string): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const f of MODEL_FILES) copyFileSync(join(modelDir, f), join(dir, f));
  if (config !== undefined) writeFileSync(join(dir, 'config.json'), config);
  return dir;
}

async function setDocuments(lines: string[]): Promise<void> {
  await page().getByTestId('documents').fill(lines.join('\n'));
}

async function displays() {
  return {
    embedProgress: await page()
      .getByTestId('embed-progress')
      .evaluate((e) => (e as HTMLProgressElement).value),
    timeEmbed: await demo.text('time-embed'),
    timeRate: await demo.text('time-rate'),
    timeQuery: await demo.text('time-query'),
    results: await page().getByTestId('result').count(),
    queryEnabled: await page().getByTestId('query').isEnabled(),
  };
}

const RESET = {
  embedProgress: 0,
  timeEmbed: '–',
  timeRate: '–',
  timeQuery: '–',
  results: 0,
  queryEnabled: false,
};

describe('web demo state in Chromium', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'llara-web-state-'));
    // No demo adapter: the folder does not exist.
    process.env.LLARA_DEMO_ADAPTER_DIR = join(work, 'no-adapter');
    app = await serveApp();
    demo = await DemoPage.open(app.browser, app.url);
  });

  afterAll(async () => {
    await app?.close();
    delete process.env.LLARA_DEMO_ADAPTER_DIR;
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('leaves the adapter box unticked and disabled when there is no adapter, its note without backticks', async () => {
    await expect.poll(() => demo.text('adapter-note')).toMatch(/^No demo adapter here/);
    expect(await demo.text('adapter-note')).not.toContain('`');
    expect(await page().locator('[data-testid="adapter-note"] code').first().textContent()).toBe('pnpm demo');
    expect(await page().getByTestId('use-adapter').isChecked()).toBe(false);
    expect(await page().getByTestId('use-adapter').isDisabled()).toBe(true);
  });

  it('rejects binary document files in one sentence naming them, without their bytes', async () => {
    await setDocuments(THREE);
    // Random bytes: invalid UTF-8 (0xff never occurs in UTF-8) and NUL bytes.
    const noise = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 167 + 13) % 256));
    for (const name of ['noise.txt', 'noise.jsonl']) {
      await page()
        .getByTestId('documents-file')
        .setInputFiles({ name, mimeType: 'text/plain', buffer: noise });
      expect(await demo.waitForError()).toBe(`${name} is not a text file: it contains NUL bytes.`);
    }
    const latin1 = Buffer.from('caf\xe9 au lait\n', 'latin1');
    await page()
      .getByTestId('documents-file')
      .setInputFiles({ name: 'latin1.txt', mimeType: 'text/plain', buffer: latin1 });
    await expect.poll(() => demo.text('error')).toBe('latin1.txt is not a text file: it is not valid UTF-8.');
    // The documents shown are untouched.
    expect(await page().getByTestId('documents').inputValue()).toBe(THREE.join('\n'));
  });

  it('clears an error as soon as the documents are edited', async () => {
    await demo.loadDefaultModel(false);
    await setDocuments([]);
    await page().getByTestId('embed').click();
    expect(await demo.waitForError()).toBe('There are no documents to embed: type some, one per line.');
    await setDocuments(THREE);
    expect(await page().getByTestId('error').isHidden()).toBe(true);
  });

  it('cancels embedding when the documents are replaced, and never searches the old ones', async () => {
    await page().getByTestId('max-len').selectOption('64');
    await setDocuments(MANY);
    await page().getByTestId('embed').click();
    await page().waitForFunction(() => document.body.dataset.busy === 'true');
    await demo.page
      .getByTestId('embed-status')
      .filter({ hasText: /^Embedding: 16 \/ 320 documents/ })
      .waitFor();
    await setDocuments(THREE);
    const status = await demo.waitForText('embed-status', /again\.$/);
    expect(status).toBe('The documents changed during embedding: embed the documents again.');
    expect(await displays()).toEqual(RESET);

    expect(await demo.embedDocuments()).toMatch(/^Embedded 3 documents /);
    await page().getByTestId('query').fill(THREE[1]);
    const hits = await demo.results(THREE[1]);
    expect(hits.map((h) => h.id).sort()).toEqual(['line 1', 'line 2', 'line 3']);
  });

  it('resets results, progress and timings when the documents change', async () => {
    expect(await demo.text('time-query')).toMatch(/ ms$/);
    await page().getByTestId('documents').press('Control+End');
    await page().getByTestId('documents').press('Enter');
    await page().getByTestId('documents').pressSequentially('Heat flows');
    expect(await demo.text('embed-status')).toBe('The documents changed: embed the documents again.');
    expect(await displays()).toEqual(RESET);
    expect(await demo.text('time-load')).toMatch(/ ms$/);
  });

  it('says how many documents and queries were cut at the token limit, and to how many tokens', async () => {
    await page().getByTestId('max-len').selectOption('128');
    // The sizes that went through silently: a 100,000-character document and a 5,000-character query.
    const long = 'The boundary layer grows thicker along the flat plate. '.repeat(1819).slice(0, 100_000);
    const longQuery = long.slice(0, 5000).trim();
    await setDocuments([...THREE.slice(0, 2), long]);
    await demo.embedDocuments();
    const note = await demo.text('embed-note');
    const m =
      /^1 of 3 documents was longer than the 128-token limit \(prompt included\) and was cut to its first (\d+) tokens\.$/.exec(
        note,
      );
    expect(m, note).not.toBeNull();
    const kept = Number(m![1]);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(128);

    await page().getByTestId('query').fill(longQuery);
    await demo.results(longQuery);
    expect(await demo.text('query-note')).toMatch(
      /^The query is longer than the 128-token limit \(prompt included\): only its first \d+ tokens were searched\.$/,
    );
    await page().getByTestId('query').fill(THREE[0]);
    await demo.results(THREE[0]);
    expect(await page().getByTestId('query-note').isHidden()).toBe(true);
  });

  it('keeps the loaded model and its index when a picked folder has a config.json that is not JSON', async () => {
    const before = await demo.text('model-status');
    const bad = modelFolder('bad-model', '{\n  "hidden_size": 64,\n  oops\n}\n');
    await page().getByTestId('model-folder').setInputFiles(bad);
    const message = await demo.waitForError();
    expect(message).toMatch(/^bad-model\/config\.json is not valid JSON( \(error at character \d+\))?\. /);
    expect(message).toMatch(/ bundled stories260K stays loaded\.$/);
    expect(message).not.toContain('oops');
    expect(await demo.text('model-status')).toBe(before);
    expect(await demo.text('embed-status')).toMatch(/^Embedded 3 documents /);
    expect(await page().getByTestId('query').isEnabled()).toBe(true);
    expect(await demo.text('time-load')).toMatch(/ ms$/);
  });

  it("applies and removes a picked folder's adapter at once when the box is toggled", async () => {
    const dir = modelFolder('with-adapter');
    await writeTestAdapter(dir, dataDir);
    await page().getByTestId('model-folder').setInputFiles(dir);
    expect(await demo.waitForText('model-status', /^Loaded with-adapter/)).toMatch(
      /LoRA adapter r=4 from with-adapter\.$/,
    );
    const box = page().getByTestId('use-adapter');
    expect(await box.isChecked()).toBe(true);
    await setDocuments(THREE);
    await demo.embedDocuments();
    await page().getByTestId('query').fill(THREE[2]);
    const applied = await demo.results(THREE[2]);

    await box.uncheck();
    expect(await demo.waitForText('model-status', /not applied/)).toMatch(/ \(not applied\)\.$/);
    expect(await demo.text('embed-status')).toBe('The adapter was removed: embed the documents again.');
    expect(await displays()).toEqual(RESET);
    await demo.embedDocuments();
    await page().getByTestId('query').fill(`${THREE[2]} `);
    const removed = await demo.results(THREE[2]);
    const before = new Map(applied.map((h) => [h.id, h.score]));
    expect(removed.some((h) => Math.abs(h.score - before.get(h.id)!) > 1e-3)).toBe(true);
    expect(demo.problems).toEqual([]);
  });
});
