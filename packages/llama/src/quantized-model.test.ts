/**
 * The graph with a block-quantized base (q8, q4, nf4) against the plain-loop reference run on the
 * dequantized weights: forward on stories260K, the vocabulary split by rows with the added-token rows
 * in f32, and QLoRA gradients (through the frozen quantized base) against finite differences.
 */
import { compareClose, type Gpu, QUANT_FORMATS, type QuantFormat, randomArray } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { dequantizeMatrix, quantizeMatrix } from '@llara/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadModel } from './load-gpu.ts';
import { LoraGpu } from './lora-gpu.ts';
import { openModelFolder } from './node.ts';
import { readAllFloat32 } from './open-model.ts';
import { randomLora } from './random-lora.ts';
import { llamaForwardRef } from './reference/llama-ref.ts';
import { expectLoraGradientsMatchFiniteDifferences, twoSequences, validRows } from './test-batches.ts';

const STORIES = new URL('../../../data/models/stories260K', import.meta.url).pathname;
const TINY_GQA = new URL('../test/fixtures/tiny-gqa', import.meta.url).pathname;

let gpu: Gpu;
beforeAll(async () => {
  gpu = await requestNodeGpu();
});
afterAll(() => gpu?.destroy());

/** The weights as the quantized model holds them: every matrix quantized and decoded again. */
function dequantized(weights: Map<string, Float32Array>, shapes: Map<string, number[]>, format: QuantFormat) {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of weights) {
    const s = shapes.get(name)!;
    out.set(
      name,
      s.length === 2 ? dequantizeMatrix(format, quantizeMatrix(format, v, s[0], s[1]), s[0], s[1]) : v,
    );
  }
  return out;
}

async function load(dir: string, format: QuantFormat, addedTokens = 0) {
  const opened = await openModelFolder(dir, { tokenizer: false });
  const weights = await readAllFloat32(opened.checkpoint);
  const shapes = new Map([...opened.checkpoint.infos].map(([n, i]) => [n, i.shape]));
  const model = await uploadModel(gpu, opened.config, opened.checkpoint, { quantize: format, addedTokens });
  return { opened, config: opened.config, ref: dequantized(weights, shapes, format), model };
}

describe('a quantized base', () => {
  it('runs the forward of the reference on the dequantized weights (stories260K, every format)', async () => {
    for (const format of QUANT_FORMATS) {
      const { config, ref, model } = await load(STORIES, format, 5);
      // Matrices quantized, norms f32, the 5 added-token rows an f32 last part of the vocabulary.
      expect(model.weights.layers[0].q.dtype).toBe(format);
      expect(model.weights.layers[0].inputNorm.dtype).toBe('f32');
      expect(model.weights.embed.parts.map((p) => [p.tensor.dtype, p.row0, p.rows])).toEqual([
        [format, 0, 512],
        ['f32', 512, 5],
      ]);
      const batch = twoSequences(config.vocabSize, 11, [11, 6]);
      const dev = model.upload(batch);
      const hidden = model.forward(dev);
      const got = (await gpu.read(hidden)) as Float32Array;
      const want = llamaForwardRef(config, ref, batch);
      const r = compareClose(
        validRows(got, batch.mask, 64),
        validRows(want, batch.mask, 64),
        { atol: 1e-4, rtol: 1e-4 },
        format,
      );
      expect(r.ok, r.message).toBe(true);
      hidden.release();
      dev.release();
      model.destroy();
    }
  });

  it('splits a quantized vocabulary by rows with the same hidden states and logits', async () => {
    const opened = await openModelFolder(STORIES, { tokenizer: false });
    const whole = await uploadModel(gpu, opened.config, opened.checkpoint, {
      quantize: 'q8',
      addedTokens: 3,
    });
    // A q8 row of 64 values is 17 words (68 bytes): 16 KiB bindings hold 240 rows.
    const small = await requestNodeGpu({ maxBindingBytes: 16 * 1024 });
    try {
      const split = await uploadModel(small, opened.config, opened.checkpoint, {
        quantize: 'q8',
        addedTokens: 3,
        skipMemoryCheck: true,
      });
      expect(split.weights.embed.parts.map((p) => [p.tensor.dtype, p.row0, p.rows])).toEqual([
        ['q8', 0, 240],
        ['q8', 240, 240],
        ['q8', 480, 32],
        ['f32', 512, 3],
      ]);
      const V = split.shape.vocabSize;
      const batch = twoSequences(V, 9, [9, 5]);
      batch.ids[3] = V - 1; // an added token
      batch.ids[12] = 300; // the middle part
      const run = async (g: Gpu, model: typeof whole) => {
        const dev = model.upload(batch);
        const hidden = model.forward(dev);
        // 4 rows of logits: 18 would exceed the 16 KiB binding.
        const rows = g.tensor('f32', [4, 64], randomArray(4 * 64, 4));
        const logits = g.tensor('f32', [4, V]);
        const rec = g.recorder();
        model.logits(rec, rows, logits);
        rec.submit();
        const [h, l] = await Promise.all([g.read(hidden), g.read(logits)]);
        for (const t of [hidden, rows, logits]) t.release();
        dev.release();
        return { h: h as Float32Array, l: l as Float32Array };
      };
      const a = await run(gpu, whole);
      const b = await run(small, split);
      expect(b.h).toEqual(a.h);
      const r = compareClose(b.l, a.l, { atol: 1e-5, rtol: 1e-5 }, 'logits');
      expect(r.ok, r.message).toBe(true);
      split.destroy();
    } finally {
      whole.destroy();
      small.destroy();
    }
  });

  it('gives LoRA gradients (QLoRA) that match finite differences and never changes the base', async () => {
    const { config, ref, model } = await load(TINY_GQA, 'nf4');
    const lora = randomLora(config, 2, 11);
    model.lora = LoraGpu.upload(gpu, model.shape, lora);
    const before = await gpu.read(model.weights.layers[1].down);
    const batch = twoSequences(config.vocabSize, 7, [7, 5]);
    await expectLoraGradientsMatchFiniteDifferences({
      gpu,
      config,
      weights: ref,
      model,
      lora,
      batch,
      targets: ['q_proj', 'v_proj', 'down_proj'],
      indices: (values) => [Math.floor(values.length / 2) + 1],
    });
    expect(await gpu.read(model.weights.layers[1].down)).toEqual(before);
    model.destroy();
  });
});
