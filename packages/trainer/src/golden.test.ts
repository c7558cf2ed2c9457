/**
 * The end-to-end golden (like llm.c's test_gpt2): three AdamW steps of the `flag` recipe on the real
 * stories260K weights from a given PEFT adapter, against what PyTorch autograd computed
 * (data/goldens/llara-flag-stories260K). Ids, mask, positions, losses, gradient and update all have to
 * be right for these numbers to agree.
 */
import { readFileSync } from 'node:fs';
import { requestNodeGpu } from '@llara/gpu/node';
import { LoraGpu, uploadModel } from '@llara/llama';
import { openModelFolder, readAdapterFolder } from '@llara/llama/node';
import { describe, expect, it } from 'vitest';
import { parsePretrainJsonl } from './data.ts';
import { Pretrainer } from './pretrainer.ts';
import { getRecipe } from './recipes.ts';

const DATA = new URL('../../../data/', import.meta.url).pathname;
const GOLDEN = `${DATA}goldens/llara-flag-stories260K`;

interface GoldenStep {
  loss: number;
  bow_ebae: number;
  bow_ebar: number;
  ar: number;
  grad_norm?: number;
}

describe('flag recipe golden (PyTorch autograd, stories260K)', () => {
  it('reproduces three AdamW steps: losses before each update and the gradient norm', async () => {
    const golden = JSON.parse(readFileSync(`${GOLDEN}/golden.json`, 'utf8')) as { steps: GoldenStep[] };
    const gpu = await requestNodeGpu();
    try {
      const opened = await openModelFolder(`${DATA}models/stories260K`);
      const model = await uploadModel(gpu, opened.config, opened.checkpoint, { addedTokens: 16 });
      const adapter = await readAdapterFolder(`${GOLDEN}/adapter`, opened.config);
      model.lora = LoraGpu.upload(gpu, model.shape, adapter);
      const rows = parsePretrainJsonl(readFileSync(`${GOLDEN}/data.jsonl`, 'utf8'), 'data.jsonl');
      const lr = 1e-2;
      const trainer = new Pretrainer(model, opened.tokenizer!, rows, {
        recipe: getRecipe('flag'),
        maxLen: 512,
        batch: 1,
        gradAccum: 1,
        steps: 3,
        schedule: { kind: 'constant', lr, warmupSteps: 0, totalSteps: 3 },
        adamw: { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 0 },
        seed: 0,
        removeStopWords: false,
        ar: true,
        baseVocab: opened.config.vocabSize,
      });
      // float32 on both sides; the README of the golden expects ~1e-4 relative agreement, and AdamW's
      // first steps amplify tiny differences (m / sqrt(v) ~ sign(g)), so later steps get a looser bound.
      const tol = [2e-4, 1e-3, 2e-3];
      for (let s = 0; s < 3; s++) {
        const line = await trainer.trainStep();
        const want = golden.steps[s];
        for (const key of ['loss', 'bow_ebae', 'bow_ebar', 'ar'] as const) {
          const got = line[key] as number;
          expect(
            Math.abs(got - want[key]) / Math.abs(want[key]),
            `step ${s} ${key}: ${got} vs ${want[key]}`,
          ).toBeLessThan(tol[s]);
        }
        if (want.grad_norm !== undefined) {
          expect(
            Math.abs(line.grad_norm - want.grad_norm) / want.grad_norm,
            `grad norm ${line.grad_norm}`,
          ).toBeLessThan(1e-3);
        }
      }
      trainer.destroy();
      model.destroy();
    } finally {
      gpu.destroy();
    }
  });
});
