/**
 * Device loss mid-training (WebLLM #517, FlagEmbedding #183): the run stops with one sentence naming
 * the loss, the checkpoints already written stay intact, and resuming on a NEW device ends with the
 * same adapter bytes and metrics as a run that was never interrupted.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceLostError, type Gpu } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { describe, expect, it } from 'vitest';
import { type FinetuneRunOptions, runFinetune } from './finetune-node.ts';
import { parseMetricsLog } from './metrics-log.ts';

const STORIES = new URL('../../../data/models/stories260K', import.meta.url).pathname;

const ROWS = [
  { query: 'Where did Lily go?', pos: ['Lily went to the park.'], neg: ['The cat ate fish.'] },
  { query: 'What did the cat eat?', pos: ['The cat ate fish.'], neg: ['Lily went to the park.'] },
  { query: 'What color was the ball?', pos: ['Tom had a red ball.'], neg: ['The sun was hot.'] },
];

function options(dir: string, gpu: Gpu, over: Partial<FinetuneRunOptions> = {}): FinetuneRunOptions {
  const data = join(dir, 'train.jsonl');
  writeFileSync(data, ROWS.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return {
    model: STORIES,
    data,
    recipe: 'flag',
    out: join(dir, 'out'),
    steps: 4,
    batch: 2,
    groupSize: 2,
    tau: 0.05,
    lr: 1e-3,
    lrSchedule: 'cosine',
    warmup: 1,
    queryMaxLen: 64,
    passageMaxLen: 64,
    saveEvery: 1,
    lora: { r: 4, alpha: 8, dropout: 0.1 },
    seed: 5,
    gpu,
    ...over,
  };
}

const tempDir = () => mkdtempSync(join(tmpdir(), 'llara-lost-'));
const file = (dir: string, name: string) => readFileSync(join(dir, 'out', name));
const losses = (dir: string) =>
  parseMetricsLog(file(dir, 'metrics.jsonl').toString('utf8')).map((l) => [l.step, l.loss, l.grad_norm]);

describe('device loss during training', () => {
  it('reports the loss in one sentence and resumes on a new device to the uninterrupted result', async () => {
    const reference = tempDir();
    const gpuA = await requestNodeGpu();
    try {
      await runFinetune(options(reference, gpuA));
    } finally {
      gpuA.destroy();
    }

    const dir = tempDir();
    const gpuB = await requestNodeGpu();
    const reported: string[] = [];
    gpuB.onLost((e) => reported.push(e.message));
    // Destroying the GPUDevice behind the Gpu's back is what a driver reset looks like from WebGPU.
    const err = await runFinetune(
      options(dir, gpuB, { onStep: (m) => m.step === 2 && gpuB.device.destroy() }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceLostError);
    expect((err as Error).message).toMatch(/^The GPU device was lost \(destroyed[^)]*\)\.$/);
    expect(reported).toEqual([(err as Error).message]);
    expect(gpuB.isLost).toBe(true);
    gpuB.destroy();
    // Steps 0 and 1 were checkpointed before the loss, step 2 was not: nothing half-written after it.
    const names = readdirSync(join(dir, 'out')).filter((n) => n.startsWith('checkpoint'));
    expect(names.sort()).toEqual(['checkpoint-1', 'checkpoint-2']);

    const gpuC = await requestNodeGpu();
    try {
      const resumed = await runFinetune(options(dir, gpuC, { resume: true }));
      expect(resumed.lines.map((l) => l.step)).toEqual([0, 1, 2, 3]);
    } finally {
      gpuC.destroy();
    }
    for (const name of ['adapter/adapter_model.safetensors', 'adapter/adapter_config.json'])
      expect(file(dir, name).equals(file(reference, name)), name).toBe(true);
    expect(losses(dir)).toEqual(losses(reference));
  });
});
