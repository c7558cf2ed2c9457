/**
 * The contrastive step on the GPU against the CPU specification, on the tiny GQA model with a random
 * LoRA adapter: embeddings (LLaMA reference forward -> mean of the read-out slots -> L2 norm), the
 * InfoNCE loss and its embedding gradients (`infoNceRef`), LoRA gradients against central finite
 * differences of that f64 pipeline, and GradCache against the plain path (same loss, same gradients).
 */
import { assertClose, type Gpu } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { LoraGpu, type LoraWeights, llamaForwardRef } from '@llara/llama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Batch, batchForRecipe } from './batch.ts';
import { plainContrastiveStep } from './contrastive-step.ts';
import { contrastiveStep } from './finetuner.ts';
import { forwardNoGraph } from './gradcache.ts';
import { type Layout, passageLayout, queryLayout } from './layout.ts';
import { infoNceRef, l2NormalizeRef } from './losses.ref.ts';
import { getRecipe, type Recipe } from './recipes.ts';
import {
  CHAR_BASE_VOCAB,
  charTokenizer,
  loadTinyModel,
  randomLora,
  type TinyModel,
  takeGrads,
} from './test-tiny-model.ts';

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

const QUERIES = ['wing lift', 'how do boats float on water?'];
// Two groups of three (positive first), of different lengths so batches carry padding.
const PASSAGES = [
  'A wing makes lift.',
  'Boats sink.',
  'The cat sat on the mat and slept all day long.',
  'A boat floats because it displaces water.',
  'Wings.',
  'Rain falls.',
];
const G = 3;

function layoutsFor(recipe: Recipe): { q: Layout[]; p: Layout[] } {
  const opts = { maxLen: 96, baseVocab: CHAR_BASE_VOCAB };
  return {
    q: QUERIES.map((t) => queryLayout(recipe, charTokenizer, t, opts)),
    p: PASSAGES.map((t) => passageLayout(recipe, charTokenizer, t, opts)),
  };
}

function useLora(lora: LoraWeights): void {
  tiny.model.lora?.destroy();
  tiny.model.lora = LoraGpu.upload(gpu, tiny.model.shape, lora);
}

/** Final hidden states in f64: the reference's last residual (via its trace hook), then the final norm. */
function hiddenF64(batch: Batch, lora: LoraWeights): Float64Array {
  const { config, weights } = tiny;
  let last: Float64Array | null = null;
  llamaForwardRef(
    config,
    weights,
    { ids: batch.ids, positions: batch.positions, mask: batch.mask },
    {
      lora,
      trace: (what, values) => {
        if (what === `layers.${config.numLayers - 1}.out`) last = Float64Array.from(values);
      },
    },
  );
  if (!last) throw new Error('The reference forward did not report its last layer.');
  const x: Float64Array = last;
  const H = config.hiddenSize;
  const w = weights.get('model.norm.weight') as Float32Array;
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / H; r++) {
    let ss = 0;
    for (let k = 0; k < H; k++) ss += x[r * H + k] ** 2;
    const inv = 1 / Math.sqrt(ss / H + config.rmsNormEps);
    for (let k = 0; k < H; k++) out[r * H + k] = x[r * H + k] * inv * w[k];
  }
  return out;
}

/** Embeddings as specified: mean of the read-out slots' hidden states, L2-normalised. */
function refEmbeddings(batch: Batch, lora: LoraWeights): Float64Array {
  const H = tiny.config.hiddenSize;
  const hidden = hiddenF64(batch, lora);
  const slots = batch.readout.embed as Int32Array;
  const P = batch.readoutPerRow.embed as number;
  const pooled = new Float64Array(batch.batch * H);
  for (let b = 0; b < batch.batch; b++)
    for (let p = 0; p < P; p++)
      for (let k = 0; k < H; k++) pooled[b * H + k] += hidden[slots[b * P + p] * H + k] / P;
  return l2NormalizeRef(pooled, { N: batch.batch, d: H });
}

function refStep(recipe: Recipe, q: Layout[], p: Layout[], lora: LoraWeights, tau: number) {
  const qe = refEmbeddings(batchForRecipe(recipe, q), lora);
  const pe = refEmbeddings(batchForRecipe(recipe, p), lora);
  return { q: qe, p: pe, ...infoNceRef(qe, pe, { B: q.length, g: G, d: tiny.config.hiddenSize }, tau) };
}

const maxAbs = (x: ArrayLike<number>) => Array.from(x).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

describe('contrastive step (plain path) against the CPU reference', () => {
  it('matches infoNceRef on reference embeddings, and finite differences of one LoRA entry per projection', async () => {
    const recipe = getRecipe('flag');
    const tau = 0.05;
    const lora = randomLora(tiny.config, 4, 11);
    useLora(lora);
    const { q, p } = layoutsFor(recipe);
    const gpuStep = await plainContrastiveStep(tiny.model, recipe, q, p, {
      groupSize: G,
      tau,
      seed: 3,
      inspect: true,
    });
    const grads = await takeGrads(tiny.model);
    const ref = refStep(recipe, q, p, lora, tau);
    const got = gpuStep.inspect!;
    // f32 GPU graph vs f64 reference (observed: embeddings 1.3e-7, loss 4e-7 relative, gradients
    // 3e-6 of their largest entry): embeddings are unit vectors; gradients scale with 1/tau.
    assertClose(got.q, ref.q, { atol: 1e-6, rtol: 0 }, 'query embeddings');
    assertClose(got.p, ref.p, { atol: 1e-6, rtol: 0 }, 'passage embeddings');
    expect(Math.abs(gpuStep.loss - ref.loss)).toBeLessThanOrEqual(1e-5 * ref.loss);
    assertClose(got.dq, ref.gradQ, { atol: 2e-5 * maxAbs(ref.gradQ), rtol: 1e-4 }, 'd loss / d q');
    assertClose(got.dp, ref.gradP, { atol: 2e-5 * maxAbs(ref.gradP), rtol: 1e-4 }, 'd loss / d p');
    expect(gpuStep.tokens).toBe([...q, ...p].reduce((a, l) => a + l.ids.length, 0));

    // LoRA gradients: central differences of the f64 pipeline at the largest entry of several tensors.
    const params = tiny.model.lora!.parameters().map((x) => x.name);
    const checked = [
      '0.q_proj.A',
      '0.k_proj.B',
      '1.v_proj.A',
      '1.o_proj.B',
      '0.gate_proj.B',
      '1.down_proj.A',
    ];
    const h = 1e-3;
    for (const name of checked) {
      const i = params.indexOf(name);
      expect(i, name).toBeGreaterThanOrEqual(0);
      const g = grads[i];
      let at = 0;
      for (let k = 1; k < g.length; k++) if (Math.abs(g[k]) > Math.abs(g[at])) at = k;
      const [layer, target, which] = name.split('.') as [string, 'q_proj', 'A' | 'B'];
      const m = lora.layers[Number(layer)][target]!;
      const arr = which === 'A' ? m.A : m.B;
      const orig = arr[at];
      arr[at] = orig + h;
      const up = refStep(recipe, q, p, lora, tau).loss;
      arr[at] = orig - h;
      const down = refStep(recipe, q, p, lora, tau).loss;
      arr[at] = orig;
      // The perturbed values are f32 (the adapter's storage): use the step actually taken.
      const taken = Math.fround(orig + h) - Math.fround(orig - h);
      const fd = (up - down) / taken;
      expect(Math.abs(g[at]), `${name} gradient is not trivially zero`).toBeGreaterThan(1e-3);
      // Observed relative errors 2e-7 .. 3e-6 (f32 gradients vs O(h^2) differences of f64 losses).
      expect(Math.abs(g[at] - fd), `${name}[${at}]: gpu ${g[at]} vs fd ${fd}`).toBeLessThanOrEqual(
        1e-6 + 1e-4 * Math.abs(fd),
      );
    }
  });
});

describe('GradCache', () => {
  it('gives the loss and LoRA gradients of the plain path (flag left padding, repllama right padding)', async () => {
    useLora(randomLora(tiny.config, 4, 5));
    for (const name of ['flag', 'repllama'] as const) {
      const recipe = getRecipe(name);
      const { q, p } = layoutsFor(recipe);
      const opts = { groupSize: G, tau: 0.02, seed: 9 };
      const plain = await contrastiveStep(tiny.model, recipe, q, p, { ...opts, chunkSize: 0 });
      const want = await takeGrads(tiny.model);
      const scale = Math.max(...want.map(maxAbs));
      for (const chunkSize of [1, 4]) {
        const cached = await contrastiveStep(tiny.model, recipe, q, p, { ...opts, chunkSize });
        const got = await takeGrads(tiny.model);
        const what = `${name}, chunk ${chunkSize}`;
        // Same f32 arithmetic up to padding and summation order (observed: equal losses, gradients
        // within 2e-6 of the largest entry).
        expect(Math.abs(cached.loss - plain.loss), what).toBeLessThanOrEqual(1e-5 * (1 + plain.loss));
        expect(cached.tokens).toBe(plain.tokens);
        got.forEach((g, i) => {
          assertClose(g, want[i], { atol: 1e-5 * scale, rtol: 1e-3 }, `${what}: gradient ${i}`);
        });
      }
    }
  });

  it('replays the LoRA dropout masks of forwardTrain when it embeds without a graph', async () => {
    useLora(randomLora(tiny.config, 4, 6, 0.3));
    const recipe = getRecipe('flag');
    const dev = tiny.model.upload(batchForRecipe(recipe, layoutsFor(recipe).p));
    const state = tiny.model.forwardTrain(dev, 1234);
    const train = (await gpu.read(state.hidden)) as Float32Array;
    for (const t of state.inputs) t.release();
    state.hidden.release();
    const same = forwardNoGraph(tiny.model, dev, 1234);
    const other = forwardNoGraph(tiny.model, dev, 4321);
    const a = (await gpu.read(same)) as Float32Array;
    const b = (await gpu.read(other)) as Float32Array;
    same.release();
    other.release();
    dev.release();
    expect(Array.from(a)).toEqual(Array.from(train));
    // Another seed must change the result, or the check above would hold without dropout.
    expect(maxAbs(a.map((v, i) => v - b[i]))).toBeGreaterThan(1e-3);
  });
});
