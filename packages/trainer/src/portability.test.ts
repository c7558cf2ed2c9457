/**
 * What strict browsers and f16 users need: the whole flag-recipe embedding path on a device created
 * with WebGPU's default limits and no optional features, and the same model through f16 weights giving
 * embeddings with cosine >= 0.999 to the f32 path (f32 accumulation and softmax on both), no NaN/Inf.
 */
import { type Gpu, toF16Array } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { type RawTensor, type TensorSource, tensorToFloat32, uploadModel } from '@llara/llama';
import { openModelFolder } from '@llara/llama/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Embedder } from './embedder.ts';
import { getRecipe } from './recipes.ts';

const STORIES = new URL('../../../data/models/stories260K', import.meta.url).pathname;
const TEXTS = [
  'experimental investigation of the aerodynamics of a wing in a slipstream .',
  'Once upon a time there was a little girl named Lily who loved to play outside.',
  'heat transfer in laminar boundary layers on flat plates at high speed .',
];

/** The same checkpoint with every tensor rounded to f16 (what an f16 export of it would hold). */
function asF16(source: TensorSource): TensorSource {
  const toF16 = (t: RawTensor): RawTensor => {
    const bits = toF16Array(tensorToFloat32(t));
    return { dtype: 'F16', shape: t.shape, data: new Uint8Array(bits.buffer) };
  };
  return {
    names: source.names,
    infos: new Map([...source.infos].map(([n, i]) => [n, { ...i, dtype: 'F16' as const }])),
    totalBytes: source.totalBytes / 2,
    read: async (name) => toF16(await source.read(name)),
    readRows: async (name, a, b) => toF16(await source.readRows(name, a, b)),
  };
}

async function embed(gpu: Gpu, f16: boolean): Promise<Float32Array> {
  const opened = await openModelFolder(STORIES);
  const source = f16 ? asF16(opened.checkpoint) : opened.checkpoint;
  const model = await uploadModel(gpu, opened.config, source, { addedTokens: 16 });
  try {
    const embedder = new Embedder(model, opened.tokenizer!, getRecipe('flag'), {
      maxLen: 96,
      baseVocab: opened.config.vocabSize,
    });
    return await embedder.embed(TEXTS, 'passage');
  } finally {
    model.destroy();
  }
}

let full: Gpu;
let strict: Gpu;
beforeAll(async () => {
  full = await requestNodeGpu();
  strict = await requestNodeGpu({
    defaultLimits: true,
    disable: ['shader-f16', 'subgroups', 'subgroup-matrix'],
  });
});
afterAll(() => {
  full?.destroy();
  strict?.destroy();
});

function minRowCosine(a: Float32Array, b: Float32Array, dim: number): number {
  let min = 1;
  for (let r = 0; r < a.length / dim; r++) {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let i = r * dim; i < (r + 1) * dim; i++) {
      ab += a[i] * b[i];
      aa += a[i] * a[i];
      bb += b[i] * b[i];
    }
    min = Math.min(min, ab / Math.sqrt(aa * bb));
  }
  return min;
}

describe('portability', () => {
  it('embeds identically on a default-limits, plain-f32 device', async () => {
    const a = await embed(full, false);
    const b = await embed(strict, false);
    expect(b.every(Number.isFinite)).toBe(true);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-5);
  });

  for (const [name, dev] of [
    ['shader-f16', () => full],
    ['packed f16 (no shader-f16)', () => strict],
  ] as const) {
    it(`f16 weights (${name}) agree with f32: cosine >= 0.999, no NaN/Inf`, async () => {
      const e32 = await embed(dev(), false);
      const e16 = await embed(dev(), true);
      expect(e16.every(Number.isFinite)).toBe(true);
      expect(minRowCosine(e32, e16, 64)).toBeGreaterThanOrEqual(0.999);
    });
  }
});
