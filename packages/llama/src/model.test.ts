/**
 * The GPU graph against the plain-loop reference (itself checked against PyTorch in
 * reference/llama-ref.test.ts): forward on the real stories260K weights with padding on both sides and
 * a LoRA adapter, and LoRA gradients against central finite differences of the f64 reference.
 */
import { compareClose, type Gpu, randomArray } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { matmulVariant, paddedCausalMask } from '@llara/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadModel } from './load-gpu.ts';
import { LoraGpu } from './lora-gpu.ts';
import { openModelFolder } from './node.ts';
import { readAllFloat32 } from './open-model.ts';
import { LORA_TARGETS } from './peft.ts';
import { randomLora } from './random-lora.ts';
import { llamaForwardRef } from './reference/llama-ref.ts';
import { expectLoraGradientsMatchFiniteDifferences, twoSequences, validRows } from './test-batches.ts';

const STORIES = new URL('../../../data/models/stories260K', import.meta.url).pathname;
const TINY_GQA = new URL('../test/fixtures/tiny-gqa', import.meta.url).pathname;
const TINY_BF16 = new URL('../test/fixtures/tiny-gqa-bf16', import.meta.url).pathname;

let gpu: Gpu;
beforeAll(async () => {
  gpu = await requestNodeGpu();
});
afterAll(() => gpu?.destroy());

async function load(dir: string) {
  const opened = await openModelFolder(dir, { tokenizer: false });
  const weights = await readAllFloat32(opened.checkpoint);
  const model = await uploadModel(gpu, opened.config, opened.checkpoint);
  return { config: opened.config, weights, model };
}

describe('LLaMA forward on the GPU', () => {
  // f32 everywhere with K <= 172 per product and 5 layers: errors stay near 1e-5 of O(1) values.
  const tol = { atol: 1e-4, rtol: 1e-4 };

  for (const padding of ['right', 'left'] as const) {
    it(`matches the reference on stories260K (${padding} padding, GQA)`, async () => {
      const { config, weights, model } = await load(STORIES);
      const batch = twoSequences(config.vocabSize, 13, [13, 6], padding);
      const dev = model.upload(batch);
      const hidden = model.forward(dev);
      const got = (await gpu.read(hidden)) as Float32Array;
      const want = llamaForwardRef(config, weights, batch);
      const r = compareClose(validRows(got, batch.mask, 64), validRows(want, batch.mask, 64), tol, 'hidden');
      expect(r.ok, r.message).toBe(true);
      hidden.release();
      dev.release();
      model.destroy();
    });
  }

  it('matches the reference with a LoRA adapter, from bf16 weights (no dropout at inference)', async () => {
    const { config, weights, model } = await load(TINY_BF16);
    const lora = randomLora(config, 4, 7, 0.1);
    model.lora = LoraGpu.upload(gpu, model.shape, lora);
    const batch = twoSequences(config.vocabSize, 9, [9, 4], 'left');
    const dev = model.upload(batch);
    const hidden = model.forward(dev);
    const got = (await gpu.read(hidden)) as Float32Array;
    const want = llamaForwardRef(config, weights, batch, { lora });
    const H = config.hiddenSize;
    const r = compareClose(validRows(got, batch.mask, H), validRows(want, batch.mask, H), tol, 'hidden');
    expect(r.ok, r.message).toBe(true);
    hidden.release();
    dev.release();
    model.destroy();
  });

  it('matches the reference on one sequence of 5 tokens, where the projections run the gemv kernel', async () => {
    const { config, weights, model } = await load(TINY_BF16);
    const lora = randomLora(config, 4, 7, 0.1);
    model.lora = LoraGpu.upload(gpu, model.shape, lora);
    const T = 5;
    const ids = Int32Array.from({ length: T }, (_, s) => 3 + ((s * 17) % (config.vocabSize - 3)));
    const batch = {
      ids,
      positions: Int32Array.from({ length: T }, (_, s) => s),
      mask: paddedCausalMask(T, [T], 'right'),
    };
    const H = config.hiddenSize;
    // A few tokens: the base projections and both LoRA products (beta 1 for B) take the gemv kernel.
    for (const [N, K] of [
      [config.intermediateSize, H],
      [H, 4],
    ])
      expect(matmulVariant(gpu, { M: T, N, K, transB: true, bDtype: 'bf16' })).toMatch(/^gemv/);
    const dev = model.upload(batch);
    const hidden = model.forward(dev);
    const got = (await gpu.read(hidden)) as Float32Array;
    const want = llamaForwardRef(config, weights, batch, { lora });
    const r = compareClose(validRows(got, batch.mask, H), validRows(want, batch.mask, H), tol, 'hidden');
    expect(r.ok, r.message).toBe(true);
    hidden.release();
    dev.release();
    model.destroy();
  });
});

describe('LoRA gradients', () => {
  for (const checkpointing of [true, false]) {
    it(`match central finite differences of the f64 reference (checkpointing ${checkpointing})`, async () => {
      const { config, weights, model } = await load(TINY_GQA);
      const lora = randomLora(config, 2, 11);
      model.lora = LoraGpu.upload(gpu, model.shape, lora);
      model.checkpointing = checkpointing;
      const batch = twoSequences(config.vocabSize, 7, [7, 5], 'right');
      // A handful of entries of every target in both layers.
      const checked = await expectLoraGradientsMatchFiniteDifferences({
        gpu,
        config,
        weights,
        model,
        lora,
        batch,
        targets: LORA_TARGETS,
        indices: (values) => [0, Math.floor(values.length / 2) + 1],
      });
      expect(checked).toBe(config.numLayers * 7 * 2 * 2);
      model.destroy();
    });
  }
});

describe('memory', () => {
  it('stays flat over repeated training steps (buffer pool reuse)', async () => {
    const { config, model } = await load(TINY_GQA);
    model.lora = LoraGpu.upload(gpu, model.shape, randomLora(config, 2, 3));
    const batch = twoSequences(config.vocabSize, 8, [8, 3], 'left');
    const step = async () => {
      const dev = model.upload(batch);
      const state = model.forwardTrain(dev);
      const d = gpu.tensor('f32', [16, config.hiddenSize], randomArray(16 * config.hiddenSize, 1));
      model.backward(state, d);
      d.release();
      dev.release();
      await gpu.sync();
    };
    await step();
    await step();
    const created = gpu.pool.stats.created;
    const inUse = gpu.pool.stats.inUseBytes;
    for (let i = 0; i < 5; i++) await step();
    expect(gpu.pool.stats.created).toBe(created);
    expect(gpu.pool.stats.inUseBytes).toBe(inUse);
    model.destroy();
  });
});

describe('vocabulary weights larger than one storage binding', () => {
  it('are split by rows, and embedding, logits and their gradient equal the unsplit model', async () => {
    const opened = await openModelFolder(STORIES, { tokenizer: false });
    const whole = await uploadModel(gpu, opened.config, opened.checkpoint, { addedTokens: 5 });
    // stories260K's tied [517, 64] f32 table is 129 KiB; every other tensor here fits 48 KiB.
    const small = await requestNodeGpu({ maxBindingBytes: 48 * 1024 });
    try {
      const split = await uploadModel(small, opened.config, opened.checkpoint, {
        addedTokens: 5,
        skipMemoryCheck: true,
      });
      expect(split.weights.embed.parts.map((p) => [p.row0, p.rows])).toEqual([
        [0, 192],
        [192, 192],
        [384, 133],
      ]);
      expect(split.weights.lmHead).toBe(split.weights.embed);
      const V = split.shape.vocabSize;
      const H = split.shape.hiddenSize;
      const batch = twoSequences(V, 9, [9, 5], 'left');
      batch.ids[3] = V - 1; // an added token's row, in the last part
      batch.ids[12] = 200; // one in the middle part
      const R = 4;
      const dLogits = randomArray(R * V, 5);
      const run = async (g: Gpu, model: typeof whole) => {
        const dev = model.upload(batch);
        const hidden = model.forward(dev);
        const rows = g.tensor('f32', [R, H], randomArray(R * H, 4));
        const logits = g.tensor('f32', [R, V]);
        const dl = g.tensor('f32', [R, V], dLogits);
        const dRows = g.tensor('f32', [R, H], randomArray(R * H, 6));
        const rec = g.recorder();
        model.logits(rec, rows, logits);
        model.logitsBackward(rec, dl, dRows, true);
        rec.submit();
        const out = [hidden, logits, dRows].map(async (t) => (await g.read(t)) as Float32Array);
        const [h, l, d] = await Promise.all(out);
        for (const t of [hidden, rows, logits, dl, dRows]) t.release();
        dev.release();
        return { h, l, d };
      };
      const a = await run(gpu, whole);
      const b = await run(small, split);
      expect(b.h).toEqual(a.h); // the gather is exact and the layers are the same kernels
      const tol = { atol: 1e-5, rtol: 1e-5 };
      for (const [what, x, y] of [
        ['logits', b.l, a.l],
        ['dRows', b.d, a.d],
      ] as const) {
        const r = compareClose(x, y, tol, what);
        expect(r.ok, r.message).toBe(true);
      }
      split.destroy();
    } finally {
      whole.destroy();
      small.destroy();
    }
  });
});
