/**
 * The graph with a block-quantized base (q8, q4, nf4) against the plain-loop reference run on the
 * dequantized weights: forward on stories260K, the vocabulary split by rows with the added-token rows
 * in f32, and QLoRA gradients (through the frozen quantized base) against finite differences.
 */
import { compareClose, type Gpu, QUANT_FORMATS, type QuantFormat, randomArray } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { dequantizeMatrix, type MaskDescription, paddedCausalMask, quantizeMatrix } from '@llara/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadModel } from './load-gpu.ts';
import { LoraGpu } from './lora-gpu.ts';
import { openModelFolder } from './node.ts';
import { readAllFloat32 } from './open-model.ts';
import type { LoraWeights } from './peft.ts';
import { randomLora } from './random-lora.ts';
import { llamaForwardRef, llamaForwardRefF64 } from './reference/llama-ref.ts';

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

function twoSequences(vocab: number, T: number, lens: [number, number]) {
  const mask: MaskDescription = paddedCausalMask(T, lens, 'right');
  const ids = new Int32Array(2 * T);
  const positions = new Int32Array(2 * T);
  for (let b = 0; b < 2; b++)
    for (let s = 0; s < lens[b]; s++) {
      ids[b * T + s] = 3 + ((b * 131 + s * 17) % (vocab - 3));
      positions[b * T + s] = s;
    }
  return { ids, positions, mask };
}

function validRows(hidden: ArrayLike<number>, mask: MaskDescription, H: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < mask.batch; b++)
    for (let s = mask.validStart[b]; s < mask.validEnd[b]; s++)
      for (let h = 0; h < H; h++) out.push(hidden[(b * mask.seqLen + s) * H + h]);
  return out;
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
    const H = config.hiddenSize;
    const R = randomArray(batch.ids.length * H, 5);
    R.fill(0, (7 + 5) * H, 14 * H); // padding rows of the second sequence
    const lossOf = (w: LoraWeights) => {
      const h = llamaForwardRefF64(config, ref, batch, { lora: w });
      let s = 0;
      for (let i = 0; i < R.length; i++) s += h[i] * R[i];
      return s;
    };
    const dev = model.upload(batch);
    const state = model.forwardTrain(dev);
    const dHidden = gpu.tensor('f32', [batch.ids.length, H], R);
    model.backward(state, dHidden);
    const eps = 1e-3;
    for (let l = 0; l < config.numLayers; l++) {
      for (const t of ['q_proj', 'v_proj', 'down_proj'] as const) {
        for (const which of ['A', 'B'] as const) {
          const pair = model.lora.layers[l][t]!;
          const g = (await gpu.read(which === 'A' ? pair.gA : pair.gB)) as Float32Array;
          const values = lora.layers[l][t]![which];
          const idx = Math.floor(values.length / 2) + 1;
          const orig = values[idx];
          values[idx] = orig + eps;
          const up = lossOf(lora);
          values[idx] = orig - eps;
          const down = lossOf(lora);
          values[idx] = orig;
          const fd = (up - down) / (2 * eps);
          expect(
            Math.abs(g[idx] - fd),
            `layer ${l} ${t}.${which}: gpu ${g[idx]} fd ${fd}`,
          ).toBeLessThanOrEqual(2e-3 + 2e-3 * Math.abs(fd));
        }
      }
    }
    expect(await gpu.read(model.weights.layers[1].down)).toEqual(before);
    dHidden.release();
    dev.release();
    model.destroy();
  });
});
