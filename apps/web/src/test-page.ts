/**
 * Test-only: the demo page in a Playwright tab, with the waits its browser tests share, and every page
 * error, console error and failed response it produced (a test ends by expecting none).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { seededRandom } from '@llara/gpu';
import { initLoraWeights, type LoraConfig, parseLlamaConfig } from '@llara/llama';
import { writeAdapterFolder } from '@llara/llama/node';
import type { Browser, Page } from 'playwright-core';

export interface Result {
  id: string;
  score: number;
}

export class DemoPage {
  /** Uncaught exceptions, console errors (a 404 is one) and HTTP responses >= 400. */
  readonly problems: string[] = [];

  private constructor(readonly page: Page) {
    page.on('pageerror', (e) => this.problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') this.problems.push(`console error: ${m.text()}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) this.problems.push(`HTTP ${r.status()} for ${r.url()}`);
    });
  }

  static async open(browser: Browser, url: string): Promise<DemoPage> {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const demo = new DemoPage(page);
    await page.goto(url);
    await demo.waitForText('device-summary', / · f16: (yes|no) · subgroups: /, 30_000);
    return demo;
  }

  text(testId: string): Promise<string> {
    return this.page
      .getByTestId(testId)
      .textContent()
      .then((t) => t ?? '');
  }

  /** Waits, with no job running, for `testId`'s text to match; fails at once if the page shows an error. */
  async waitForText(testId: string, pattern: RegExp, timeout = 60_000): Promise<string> {
    await this.page.waitForFunction(
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
    return this.text(testId);
  }

  /** Waits for the page to show an error, and returns it. */
  async waitForError(): Promise<string> {
    await this.page.getByTestId('error').waitFor({ state: 'visible', timeout: 60_000 });
    return this.text('error');
  }

  /** The results once they answer `query`. */
  async results(query: string): Promise<Result[]> {
    await this.page.waitForFunction(
      (q) => document.querySelector<HTMLElement>('[data-testid="results"]')?.dataset.query === q,
      query,
      { timeout: 30_000 },
    );
    return this.page.$$eval('[data-testid="result"]', (els) =>
      els.map((el) => ({
        id: (el as HTMLElement).dataset.id ?? '',
        score: Number(el.querySelector('[data-testid="result-score"]')?.textContent),
      })),
    );
  }

  /** Loads the bundled stories260K, with the demo adapter applied or not when there is one. */
  async loadDefaultModel(withAdapter: boolean): Promise<string> {
    const box = this.page.getByTestId('use-adapter');
    if (await box.isEnabled()) await box.setChecked(withAdapter);
    await this.page.getByTestId('load-default').click();
    return this.waitForText('model-status', /^Loaded /);
  }

  async embedDocuments(): Promise<string> {
    await this.page.getByTestId('embed').click();
    return this.waitForText('embed-status', /^Embedded /);
  }
}

/** A small PEFT adapter with non-zero B, so applying it visibly changes the embeddings. */
export async function writeTestAdapter(dir: string, dataDir: string): Promise<void> {
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
