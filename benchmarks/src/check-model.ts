/**
 * Device check that the f16-weight path of the whole model agrees with the f32 one: the same random
 * weights (`RandomCheckpoint` draws F16 tensors as the exact roundings of the F32 ones) loaded both
 * ways, the same left-padded batch, final hidden states compared row by row. On a GPU with subgroup
 * matrices the f16 model runs its projections on tensor cores (activations rounded to f16), so this is
 * the end-to-end bound on what that rounding costs. Shapes: stories260K's (hidden 64, GQA 8/4, 5
 * layers, vocab 512) with weights scaled so every layer matters, and outside smoke mode also two
 * LLaMA-2-7B-shaped layers.
 */
import type { Gpu } from '@llara/gpu';
import { paddedCausalMask } from '@llara/kernels';
import { type Batch, LLAMA2_7B_CONFIG, type LlamaConfig, RandomCheckpoint, uploadModel } from '@llara/llama';
import { type CheckResult, cosine } from './check-result.ts';
import { randomIds } from './random-data.ts';
import { errorMessage } from './rows.ts';

/** stories260K's config.json (data/models/stories260K). */
export const STORIES260K_CONFIG: LlamaConfig = {
  ...LLAMA2_7B_CONFIG,
  hiddenSize: 64,
  intermediateSize: 172,
  numLayers: 5,
  numHeads: 8,
  numKvHeads: 4,
  headDim: 8,
  vocabSize: 512,
  tieWordEmbeddings: true,
  maxPositionEmbeddings: 512,
  torchDtype: 'float32',
};

const MIN_COSINE = 0.999;

export interface ModelCase {
  name: string;
  config: LlamaConfig;
  /** Weight scale: 1/sqrt(hidden) keeps each layer's output on the scale of its input. */
  std: number;
  seqLen: number;
  lengths: number[];
}

export function modelCheckCases(smoke: boolean): ModelCase[] {
  const stories: ModelCase = {
    name: 'stories260K shape (hidden 64, 5 layers, GQA 8/4)',
    config: STORIES260K_CONFIG,
    std: 0.125,
    seqLen: 64,
    lengths: [64, 41],
  };
  if (smoke) return [stories];
  return [
    stories,
    {
      name: 'LLaMA-2-7B shape, 2 layers',
      config: { ...LLAMA2_7B_CONFIG, numLayers: 2 },
      std: 0.02,
      seqLen: 256,
      lengths: [256, 100],
    },
  ];
}

/** A case's left-padded batch: random ids, positions counting from each sequence's first token. */
export function caseBatch(c: ModelCase, seed: number): Batch {
  const T = c.seqLen;
  const mask = paddedCausalMask(T, c.lengths, 'left');
  const ids = randomIds(c.lengths.length * T, seed, 3, c.config.vocabSize);
  const positions = new Int32Array(ids.length);
  for (let b = 0; b < c.lengths.length; b++)
    for (let i = mask.validStart[b]; i < T; i++) positions[b * T + i] = i - mask.validStart[b];
  return { ids, positions, mask };
}

/** Smallest cosine between a and b over the batch's valid rows, where it is, and the largest |a - b|. */
export function compareRows(a: Float32Array, b: Float32Array, c: ModelCase) {
  const T = c.seqLen;
  const H = c.config.hiddenSize;
  let min = 1;
  let row = -1;
  let maxErr = 0;
  c.lengths.forEach((len, s) => {
    for (let i = T - len; i < T; i++) {
      const r = s * T + i;
      const x = a.subarray(r * H, (r + 1) * H);
      const y = b.subarray(r * H, (r + 1) * H);
      const cs = cosine(x, y);
      if (Number.isNaN(cs) || cs < min) {
        min = cs;
        row = r;
      }
      for (let d = 0; d < H; d++) maxErr = Math.max(maxErr, Math.abs(x[d] - y[d]));
    }
  });
  return { min, row, maxErr };
}

async function hiddenStates(gpu: Gpu, c: ModelCase, dtype: 'F32' | 'F16', batch: Batch) {
  const source = new RandomCheckpoint(c.config, { seed: 5, dtype, std: c.std });
  const model = await uploadModel(gpu, c.config, source);
  try {
    const dev = model.upload(batch);
    const hidden = model.forward(dev);
    const out = (await gpu.read(hidden)) as Float32Array;
    hidden.release();
    dev.release();
    return out;
  } finally {
    model.destroy();
    gpu.pool.trim();
  }
}

export async function checkModelF16(gpu: Gpu, smoke: boolean): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const c of modelCheckCases(smoke)) {
    const t0 = performance.now();
    const name = `model f16 vs f32 weights: ${c.name}`;
    try {
      const batch = caseBatch(c, 77);
      const h32 = await hiddenStates(gpu, c, 'F32', batch);
      const h16 = await hiddenStates(gpu, c, 'F16', batch);
      const { min: minCos, row: worstRow, maxErr } = compareRows(h16, h32, c);
      results.push({
        name,
        status: minCos >= MIN_COSINE ? 'pass' : 'fail',
        maxAbsError: maxErr,
        tolerance: `min row cosine >= ${MIN_COSINE}`,
        detail: `min cosine ${minCos.toFixed(6)}${worstRow >= 0 ? ` at row ${worstRow}` : ''} over ${c.lengths.reduce((s, x) => s + x, 0)} rows`,
        seconds: (performance.now() - t0) / 1000,
      });
    } catch (e) {
      results.push({
        name,
        status: 'error',
        maxAbsError: null,
        tolerance: `min row cosine >= ${MIN_COSINE}`,
        detail: errorMessage(e),
        seconds: (performance.now() - t0) / 1000,
      });
    }
  }
  return results;
}
