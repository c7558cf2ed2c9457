/**
 * The storage-free snapshot/restore that the browser's checkpoints use: two steps, a snapshot, a fresh
 * model and trainer restored from it, two more steps give the losses and adapter bytes of four
 * uninterrupted steps; a checkpoint `runPretrain` wrote restores the same way (the two are
 * interchangeable); a checkpoint of another run is refused in one sentence.
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gpu } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { initLoraWeights, LORA_TARGETS, LoraGpu, memoryFiles, readAdapter, uploadModel } from '@llara/llama';
import { openModelFolder } from '@llara/llama/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from './checkpoint-io.ts';
import { runPretrain } from './pretrain-node.ts';
import {
  checkpointMoments,
  checkResumable,
  pretrainRunConfig,
  restorePretrain,
  snapshotPretrain,
} from './pretrain-state.ts';
import { type PretrainConfig, Pretrainer } from './pretrainer.ts';
import { getRecipe } from './recipes.ts';

const STORIES = new URL('../../../data/models/stories260K', import.meta.url).pathname;
const ROWS = [
  {
    input: 'Lily went to the park.',
    outputSummarize: 'Lily went to the park.',
    outputPredict: 'She saw a dog.',
  },
  { input: 'Tom had a red ball.', outputSummarize: 'Tom had a red ball.', outputPredict: 'He threw it far.' },
  { input: 'The sun was hot.', outputSummarize: 'The sun was hot.', outputPredict: 'They went to swim.' },
];

let gpu: Gpu;
beforeAll(async () => {
  gpu = await requestNodeGpu();
});
afterAll(() => gpu?.destroy());

const config: PretrainConfig = {
  recipe: getRecipe('flag'),
  maxLen: 96,
  batch: 2,
  gradAccum: 1,
  steps: 4,
  schedule: { kind: 'cosine', lr: 1e-2, warmupSteps: 1, totalSteps: 4 },
  adamw: { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 },
  seed: 3,
  removeStopWords: false,
  ar: true,
  baseVocab: 512,
};

async function trainer(adapterFiles?: Record<string, Uint8Array | string>): Promise<Pretrainer> {
  const opened = await openModelFolder(STORIES);
  const model = await uploadModel(gpu, opened.config, opened.checkpoint, { addedTokens: 16 });
  const weights = adapterFiles
    ? await readAdapter(
        memoryFiles(
          Object.fromEntries(
            Object.entries(adapterFiles).map(([k, v]) => [
              k,
              typeof v === 'string' ? new TextEncoder().encode(v) : v,
            ]),
          ),
        ),
        opened.config,
      )
    : initLoraWeights(
        {
          r: 4,
          alpha: 8,
          dropout: 0.1,
          targets: [...LORA_TARGETS],
          useRslora: false,
          baseModel: null,
          modulesToSave: [],
        },
        opened.config,
        config.seed,
      );
  model.lora = LoraGpu.upload(gpu, model.shape, weights);
  return new Pretrainer(model, opened.tokenizer!, ROWS, config);
}

describe('pretrain snapshot and restore (storage-free)', () => {
  it('resumes from a snapshot to the losses and adapter of an uninterrupted run', async () => {
    const runConfig = pretrainRunConfig(config, ROWS.length);
    const a = await trainer();
    const straight = [];
    for (let i = 0; i < 4; i++) straight.push((await a.trainStep()).loss);
    const endA = await snapshotPretrain(a, runConfig);
    a.destroy();
    a.model.destroy();

    const b = await trainer();
    const resumed = [(await b.trainStep()).loss, (await b.trainStep()).loss];
    const snap = await snapshotPretrain(b, runConfig);
    expect(snap.state.step).toBe(2);
    expect(Object.keys(snap.optimizer)).toContain('m.0.q_proj.A');
    b.destroy();
    b.model.destroy();

    const c = await trainer(snap.files);
    restorePretrain(c, snap, runConfig, 'snapshot');
    resumed.push((await c.trainStep()).loss, (await c.trainStep()).loss);
    const endC = await snapshotPretrain(c, runConfig);
    c.destroy();
    c.model.destroy();
    expect(resumed).toEqual(straight);
    expect(endC.files['adapter_model.safetensors']).toEqual(endA.files['adapter_model.safetensors']);
  });

  it("restores a checkpoint written by runPretrain to runPretrain's own continuation", async () => {
    const runConfig = pretrainRunConfig(config, ROWS.length);
    const out = mkdtempSync(join(tmpdir(), 'llara-state-'));
    try {
      const a = await trainer();
      const initial = await a.model.lora!.toWeights();
      a.destroy();
      const { lines } = await runPretrain(
        a.model,
        (await openModelFolder(STORIES)).config,
        a.tokenizer,
        ROWS,
        initial,
        {
          ...config,
          out,
          saveEvery: 2,
          keepCheckpoints: 2,
          resume: false,
        },
      );
      a.model.destroy();
      const saved = await readCheckpoint(join(out, 'checkpoint-2'));
      const files = Object.fromEntries(saved.files.map((n) => [n, readFileSync(join(saved.dir, n))]));
      const c = await trainer(files);
      restorePretrain(c, saved, runConfig, saved.dir);
      const resumed = [(await c.trainStep()).loss, (await c.trainStep()).loss];
      c.destroy();
      c.model.destroy();
      expect(resumed).toEqual(lines.slice(2).map((l) => l.loss));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('refuses a checkpoint of another run in one sentence', () => {
    const runConfig = pretrainRunConfig(config, ROWS.length);
    expect(() => checkResumable({ ...runConfig, batch: 8 }, runConfig, 'checkpoint-2')).toThrow(
      /^Cannot resume from checkpoint-2: it was trained with batch = 8, not 2\.$/,
    );
  });

  it('refuses moments that are missing or of another size than their parameter', () => {
    const params = [{ name: 'a.lora_A', param: { shape: [2, 3] } }];
    const arr = (n: number) => ({ shape: [n], data: new Float32Array(n) });
    expect(checkpointMoments(params, { 'm.a.lora_A': arr(6), 'v.a.lora_A': arr(6) }, 'ck').m[0].length).toBe(
      6,
    );
    expect(() => checkpointMoments(params, { 'm.a.lora_A': arr(6), 'v.a.lora_A': arr(5) }, 'ck')).toThrow(
      /^Checkpoint ck lacks optimizer state v\.a\.lora_A\.$/,
    );
    expect(() => checkpointMoments(params, null, 'ck')).toThrow(/lacks optimizer state m\.a\.lora_A/);
  });
});
