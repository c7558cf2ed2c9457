/**
 * GPU memory stays flat over long runs (transformers.js #1739/#1576): contrastive training steps and
 * embedding batches on the tiny model allocate no new buffer once every shape has been seen, and the
 * bytes in use return to where they started. Buffer pool statistics, not timings. The host side stays
 * flat too: once warm, no step creates a bind group (the pool hands a repeated step the same buffers).
 * CI runs 150 steps and 1,000 batches (about 40 s on lavapipe); LLARA_LONG_TRAIN=1000
 * LLARA_LONG_EMBED=10000 runs the full counts (several minutes there).
 */
import type { Gpu } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { LoraGpu } from '@llara/llama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FinetuneRow } from './data.ts';
import { Embedder } from './embedder.ts';
import { Finetuner } from './finetuner.ts';
import { getRecipe } from './recipes.ts';
import {
  CHAR_BASE_VOCAB,
  charTokenizer,
  loadTinyModel,
  randomLora,
  type TinyModel,
} from './test-tiny-model.ts';

const TRAIN_STEPS = Number(process.env.LLARA_LONG_TRAIN ?? 150);
const EMBED_BATCHES = Number(process.env.LLARA_LONG_EMBED ?? 1_000);
// Lavapipe: about 0.2 s per step and 25 ms per batch on a loaded 2-core machine; generous multiples.
const TRAIN_TIMEOUT = 120_000 + TRAIN_STEPS * 1_000;
const EMBED_TIMEOUT = 120_000 + EMBED_BATCHES * 150;

let gpu: Gpu;
let tiny: TinyModel;
beforeAll(async () => {
  gpu = await requestNodeGpu();
  tiny = await loadTinyModel(gpu);
});
afterAll(() => {
  tiny?.model.destroy();
  gpu?.destroy();
});

// Three lengths, so the pool sees several shapes, cycled for the whole run.
const TEXTS = ['a wing', 'the flow over a flat plate', 'heat transfer at high speed in a boundary layer'];

/** Pool counters after `run`, relative to a warm start (every shape already seen by `warmUp`). */
async function poolGrowth(warmUp: () => Promise<void>, run: () => Promise<void>) {
  await warmUp();
  await gpu.sync();
  const s = gpu.pool.stats;
  const start = {
    created: s.created,
    allocated: s.allocatedBytes,
    inUse: s.inUseBytes,
    bindGroups: gpu.bindGroups.stats.created,
  };
  s.peakInUseBytes = s.inUseBytes;
  await warmUp();
  const warmPeak = s.peakInUseBytes;
  await run();
  await gpu.sync();
  return {
    created: s.created - start.created,
    allocated: s.allocatedBytes - start.allocated,
    inUse: s.inUseBytes - start.inUse,
    peakAboveWarm: s.peakInUseBytes - warmPeak,
    bindGroupsCreated: gpu.bindGroups.stats.created - start.bindGroups,
  };
}

describe('long runs', () => {
  it(
    `train ${TRAIN_STEPS} steps without growing GPU memory`,
    async () => {
      tiny.model.lora?.destroy();
      tiny.model.lora = LoraGpu.upload(gpu, tiny.model.shape, randomLora(tiny.config, 2, 9, 0.1));
      // Every query sees every text once per epoch (3 rows, batch 1): the shapes repeat every 3 steps.
      const rows: FinetuneRow[] = TEXTS.map((query, i) => ({
        query,
        pos: [{ text: TEXTS[(i + 1) % 3] }],
        neg: [{ text: TEXTS[(i + 2) % 3] }],
      }));
      const steps = TRAIN_STEPS + 12;
      const trainer = new Finetuner(tiny.model, charTokenizer, rows, {
        recipe: getRecipe('repllama'),
        batch: 1,
        groupSize: 2,
        tau: 0.05,
        queryMaxLen: 64,
        passageMaxLen: 64,
        gradAccum: 1,
        steps,
        schedule: { kind: 'constant', lr: 1e-4, warmupSteps: 0, totalSteps: steps },
        adamw: { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 },
        seed: 4,
        chunkSize: 0,
        baseVocab: CHAR_BASE_VOCAB,
      });
      try {
        const run = async (n: number) => {
          for (let i = 0; i < n; i++) await trainer.trainStep();
        };
        const growth = await poolGrowth(
          () => run(6),
          () => run(TRAIN_STEPS),
        );
        expect(trainer.step).toBe(steps);
        expect(growth).toEqual({
          created: 0,
          allocated: 0,
          inUse: 0,
          peakAboveWarm: 0,
          bindGroupsCreated: 0,
        });
      } finally {
        trainer.destroy();
      }
    },
    TRAIN_TIMEOUT,
  );

  it(
    `embed ${EMBED_BATCHES} batches without growing GPU memory`,
    async () => {
      const embedder = new Embedder(tiny.model, charTokenizer, getRecipe('flag'), {
        maxLen: 64,
        batchSize: 1,
        baseVocab: CHAR_BASE_VOCAB,
      });
      const items = Array.from({ length: EMBED_BATCHES }, (_, i) => TEXTS[i % TEXTS.length]);
      let batches = 0;
      const growth = await poolGrowth(
        async () => {
          await embedder.embed(TEXTS, 'passage');
        },
        async () => {
          await embedder.embed(items, 'passage', (p) => {
            batches = p.done;
          });
        },
      );
      expect(batches).toBe(EMBED_BATCHES);
      expect(growth).toEqual({ created: 0, allocated: 0, inUse: 0, peakAboveWarm: 0, bindGroupsCreated: 0 });
    },
    EMBED_TIMEOUT,
  );
});
