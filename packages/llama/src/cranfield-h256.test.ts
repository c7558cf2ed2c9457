/**
 * data/models/cranfield-h256 (a 256-wide LLaMA trained by data/models/cranfield-h256/make_model.py):
 * its f16 folder loads, and our f32 forward (the plain-loop reference and the GPU graph) matches the
 * hidden states and last-token logits the training script computed with HF's forward in float32 on
 * the same f16 weights (test/fixtures/cranfield-h256-forward.json).
 */
import { readFileSync } from 'node:fs';
import { compareClose, type Gpu } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadModel } from './load-gpu.ts';
import { openModelFolder } from './node.ts';
import { readAllFloat32 } from './open-model.ts';
import { type ForwardCase, maskFromJson } from './reference/forward-case.ts';
import { llamaForwardRefF64, logitsAt } from './reference/llama-ref.ts';

const DIR = new URL('../../../data/models/cranfield-h256', import.meta.url).pathname;
const golden = JSON.parse(
  readFileSync(new URL('../test/fixtures/cranfield-h256-forward.json', import.meta.url), 'utf8'),
).case as ForwardCase;
// Torch's float32 forward against ours (4 layers, K <= 704 per product): float32 rounding, not a
// difference in the function. Measured max abs error: reference hidden 2.2e-6, logits 6.1e-6; GPU
// (lavapipe) hidden 3.5e-6, logits 7.1e-6.
const HIDDEN_TOL = { atol: 2e-5, rtol: 1e-5 };
const LOGITS_TOL = { atol: 5e-5, rtol: 2e-5 };

let gpu: Gpu;
beforeAll(async () => {
  gpu = await requestNodeGpu();
});
afterAll(() => gpu?.destroy());

describe('cranfield-h256 (trained by our script) against its PyTorch golden', () => {
  it('loads as a 256-wide GQA LLaMA with the stories260K tokenizer', async () => {
    const opened = await openModelFolder(DIR);
    expect(opened.config.hiddenSize).toBe(256);
    expect(opened.config.numLayers).toBe(4);
    // The script's tokenizer (Python, written from tokenizer.json) gave the golden's ids.
    const text =
      'what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft .';
    expect(opened.tokenizer!.encode(text).slice(0, golden.ids.length)).toEqual(golden.ids);
  });

  it('the reference forward and the GPU forward match the hidden states and logits', async () => {
    const opened = await openModelFolder(DIR, { tokenizer: false });
    const { config } = opened;
    const weights = await readAllFloat32(opened.checkpoint);
    const inputs = { ids: golden.ids, positions: golden.positions, mask: maskFromJson(golden.mask) };
    const last = golden.ids.length - 1;

    const ref = llamaForwardRefF64(config, weights, inputs);
    const r1 = compareClose(ref, golden.hidden, HIDDEN_TOL, 'reference hidden');
    expect(r1.ok, r1.message).toBe(true);
    const r2 = compareClose(
      logitsAt(config, weights, ref, [last]),
      golden.logits_last!,
      LOGITS_TOL,
      'reference logits',
    );
    expect(r2.ok, r2.message).toBe(true);

    const model = await uploadModel(gpu, config, opened.checkpoint);
    const dev = model.upload({
      ids: Int32Array.from(inputs.ids),
      positions: Int32Array.from(inputs.positions),
      mask: inputs.mask,
    });
    const hidden = model.forward(dev);
    const got = (await gpu.read(hidden)) as Float32Array;
    hidden.release();
    dev.release();
    model.destroy();
    const r3 = compareClose(got, golden.hidden, HIDDEN_TOL, 'GPU hidden');
    expect(r3.ok, r3.message).toBe(true);
    const r4 = compareClose(
      logitsAt(config, weights, got, [last]),
      golden.logits_last!,
      LOGITS_TOL,
      'GPU logits',
    );
    expect(r4.ok, r4.message).toBe(true);
    const worst = (r: { maxAbsError: number }) => r.maxAbsError.toExponential(1);
    console.log(
      `cranfield-h256 vs float32 torch, max abs error: reference hidden ${worst(r1)}, logits ${worst(r2)}; ` +
        `GPU hidden ${worst(r3)}, logits ${worst(r4)}`,
    );
  });
});
