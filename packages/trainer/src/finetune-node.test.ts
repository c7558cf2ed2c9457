/**
 * The Node fine-tuning runner on the bundled stories260K model: an interrupted run resumed from its
 * checkpoint ends with exactly the adapter and metrics of an uninterrupted one, and bad inputs give
 * one sentence naming the file and line.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gpu } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from './checkpoint-io.ts';
import {
  FinetuneInputError,
  type FinetuneRunOptions,
  readFinetuneData,
  runFinetune,
} from './finetune-node.ts';
import { parseMetricsLog } from './metrics-log.ts';

const STORIES = new URL('../../../data/models/stories260K', import.meta.url).pathname;

let gpu: Gpu;
beforeAll(async () => {
  gpu = await requestNodeGpu();
});
afterAll(() => gpu?.destroy());

const tempDir = () => mkdtempSync(join(tmpdir(), 'llara-ft-'));

const ROWS = [
  {
    query: 'Where did Lily go?',
    pos: ['Lily went to the park.'],
    neg: ['The cat ate fish.', 'Tom had a red ball.'],
  },
  {
    query: 'What did the cat eat?',
    pos: [{ title: 'Cat', text: 'The cat ate fish.' }],
    neg: ['Lily went to the park.'],
  },
  { query: 'What color was the ball?', pos: ['Tom had a red ball.'], neg: ['The sun was hot.'] },
];

function dataFile(dir: string, rows: unknown[] = ROWS, extra = '', name = 'train.jsonl'): string {
  const file = join(dir, name);
  writeFileSync(file, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n${extra}`);
  return file;
}

function options(dir: string, over: Partial<FinetuneRunOptions> = {}): FinetuneRunOptions {
  return {
    model: STORIES,
    data: dataFile(dir),
    recipe: 'flag',
    out: join(dir, 'out'),
    steps: 3,
    batch: 2,
    groupSize: 2,
    tau: 0.05,
    lr: 1e-3,
    lrSchedule: 'cosine',
    warmup: 1,
    queryMaxLen: 48,
    passageMaxLen: 48,
    saveEvery: 1,
    lora: { r: 4, alpha: 8, dropout: 0.1 },
    seed: 3,
    gpu,
    ...over,
  };
}

describe('runFinetune', () => {
  it('resumes an interrupted run exactly: same adapter bytes and metrics as an uninterrupted run', async () => {
    const a = tempDir();
    const full = await runFinetune(options(a));
    expect(full.stoppedEarly).toBe(false);
    expect(full.lines.map((l) => l.step)).toEqual([0, 1, 2]);

    const b = tempDir();
    let calls = 0;
    const first = await runFinetune(options(b, { shouldStop: () => ++calls >= 1 }));
    expect(first.stoppedEarly).toBe(true);
    expect(first.lines).toHaveLength(1);
    const resumed = await runFinetune(options(b, { resume: true, chunkSize: 0 }));
    expect(resumed.lines.map((l) => l.step)).toEqual([0, 1, 2]);

    const bytes = (dir: string, name: string) => readFileSync(join(dir, 'out', 'adapter', name));
    for (const name of ['adapter_model.safetensors', 'adapter_config.json'])
      expect(bytes(b, name).equals(bytes(a, name)), name).toBe(true);
    const losses = (dir: string) =>
      parseMetricsLog(readFileSync(join(dir, 'out', 'metrics.jsonl'), 'utf8')).map((l) => [
        l.step,
        l.loss,
        l.grad_norm,
      ]);
    expect(losses(b)).toEqual(losses(a));
    // Checkpoints: the newest two, each complete (adapter, optimizer, state).
    const names = readdirSync(join(a, 'out')).sort();
    expect(names).toEqual(['adapter', 'checkpoint-2', 'checkpoint-3', 'loss-curve.svg', 'metrics.jsonl']);
    const ck = await readCheckpoint(join(a, 'out', 'checkpoint-3'));
    expect(ck.state.step).toBe(3);
    expect(ck.files).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(Object.keys(ck.optimizer ?? {}).length).toBeGreaterThan(0);
  });

  it('refuses to resume a checkpoint made with another batch', async () => {
    const dir = tempDir();
    await runFinetune(options(dir, { steps: 1 }));
    await expect(runFinetune(options(dir, { steps: 2, batch: 3, resume: true }))).rejects.toThrow(
      /^Cannot resume from .*checkpoint-1: it was trained with batch = 2, not 3\.$/,
    );
  });

  it('names the file and line of bad data', async () => {
    const dir = tempDir();
    await expect(readFinetuneData(join(dir, 'missing.jsonl'))).rejects.toThrow(
      /missing\.jsonl cannot be read/,
    );
    const broken = dataFile(dir, ROWS, '{"query": "x", "pos": [\n', 'broken.jsonl');
    await expect(readFinetuneData(broken)).rejects.toThrow(`${broken} line 4 is not valid JSON.`);
    const noNeg = dataFile(dir, [ROWS[0], { query: 'q', pos: ['p'] }], '', 'no-neg.jsonl');
    await expect(readFinetuneData(noNeg, 4)).rejects.toThrow(
      `${noNeg} line 2 has no negatives, but a group of 4 needs 3 per query.`,
    );
    await expect(readFinetuneData(noNeg, 1)).resolves.toHaveLength(2);
    const err = await runFinetune(options(dir, { data: noNeg })).catch((e) => e);
    expect(err).toBeInstanceOf(FinetuneInputError);
    const tooShort = await runFinetune(options(dir, { queryMaxLen: 8 })).catch((e) => e);
    expect(tooShort).toBeInstanceOf(FinetuneInputError);
    expect(tooShort.message).toMatch(/^Max length 8 leaves no room for the query text/);
  });
});
