/**
 * Accuracy of a quantized base (docs/quantization.md), kept in CI at a reduced size:
 *   - embeddings (flag recipe) of the q8 / q4 / nf4 model against the f32 model on Cranfield texts:
 *     mean and worst cosine, on stories260K (hidden 64), on cranfield-h256 (hidden 256, trained by
 *     data/models/cranfield-h256/make_model.py) and on the tiny GQA fixture;
 *   - pretext training (EBAE + EBAR) from the same adapter and data: the per-step loss of a q8 and an
 *     nf4 base relative to the f32 base.
 * `LLARA_QUANT_FULL=1` runs the sizes the README reports (300 texts, 20 steps) and prints the tables.
 */
import { readFileSync } from 'node:fs';
import type { Gpu, QuantFormat } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { LoraGpu, uploadModel } from '@llara/llama';
import { openModelFolder, readAdapterFolder } from '@llara/llama/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunksToPretrainRows, chunkText } from './data.ts';
import { Embedder } from './embedder.ts';
import { Pretrainer } from './pretrainer.ts';
import { getRecipe } from './recipes.ts';
import { charTokenizer, TINY_GQA } from './test-tiny-model.ts';

const FULL = process.env.LLARA_QUANT_FULL === '1';
const DATA = new URL('../../../data/', import.meta.url).pathname;
const STORIES = `${DATA}models/stories260K`;
const WIDE = `${DATA}models/cranfield-h256`;
const TEXTS = FULL ? 300 : 16;
const STEPS = FULL ? 20 : 2;
/** Largest relative difference of a step's pretext loss from the f32 base's (measured, with a margin). */
const Q8_LOSS_BOUND = 0.01;
const NF4_LOSS_BOUND = 0.12;

const jsonl = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { text: string; title?: string });
const QUERIES = jsonl(`${DATA}cranfield/queries.jsonl`).map((q) => q.text);
const DOCS = jsonl(`${DATA}cranfield/corpus.jsonl`);
const TEXT_SAMPLE = [
  ...QUERIES.slice(0, Math.ceil(TEXTS / 2)),
  ...DOCS.slice(0, TEXTS / 2).map((d) => d.text),
].slice(0, TEXTS);

/** [mean, worst] cosine each format must reach (the measured values less a margin). */
const FLOORS: Record<string, Record<QuantFormat, [number, number]>> = {
  stories260K: { q8: [0.999, 0.998], q4: [0.955, 0.945], nf4: [0.985, 0.98] },
  'cranfield-h256': { q8: [0.9999, 0.9998], q4: [0.99, 0.988], nf4: [0.992, 0.99] },
  'tiny-gqa': { q8: [0.999, 0.998], q4: [0.98, 0.975], nf4: [0.975, 0.97] },
};

let gpu: Gpu;
beforeAll(async () => {
  gpu = await requestNodeGpu();
});
afterAll(() => gpu?.destroy());

/** Per-text cosine of two sets of L2-normalised embeddings [n, dim] (dim = the model's hidden size). */
function cosines(a: Float32Array, b: Float32Array, dim: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length / dim; i++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += a[i * dim + d] * b[i * dim + d];
    out.push(s);
  }
  return out;
}

async function embedAll(
  dir: string,
  quantize: QuantFormat | undefined,
  tiny: boolean,
): Promise<{ emb: Float32Array; dim: number }> {
  const opened = await openModelFolder(dir, { tokenizer: !tiny });
  const recipe = getRecipe('flag');
  // stories260K lacks the 16 flag tokens (appended as mean rows); the tiny fixture's char tokenizer
  // leaves ids 112..127 for them.
  const baseVocab = tiny ? 112 : opened.config.vocabSize;
  const model = await uploadModel(gpu, opened.config, opened.checkpoint, {
    quantize,
    addedTokens: tiny ? 0 : 16,
  });
  try {
    const tokenizer = tiny ? charTokenizer : opened.tokenizer!;
    const embedder = new Embedder(model, tokenizer, recipe, { maxLen: 64, batchSize: 8, baseVocab });
    return { emb: await embedder.embed(TEXT_SAMPLE, 'passage'), dim: opened.config.hiddenSize };
  } finally {
    model.destroy();
  }
}

describe('embeddings of a quantized base vs the f32 base (flag recipe, Cranfield texts)', () => {
  for (const [name, dir, tiny] of [
    ['stories260K', STORIES, false],
    ['cranfield-h256', WIDE, false],
    ['tiny-gqa', TINY_GQA, true],
  ] as const) {
    it(`${name}: q8 >= 0.999 mean cosine, the 4-bit formats at their measured floors`, async () => {
      const ref = await embedAll(dir, undefined, tiny);
      const rows: string[] = [];
      const stats: [QuantFormat, number, number][] = [];
      for (const format of ['q8', 'q4', 'nf4'] as const) {
        const c = cosines((await embedAll(dir, format, tiny)).emb, ref.emb, ref.dim);
        const mean = c.reduce((s, x) => s + x, 0) / c.length;
        const worst = Math.min(...c);
        rows.push(`| ${name} | ${format} | ${c.length} | ${mean.toFixed(5)} | ${worst.toFixed(5)} |`);
        stats.push([format, mean, worst]);
      }
      if (FULL) console.log(rows.join('\n'));
      for (const [format, mean, worst] of stats) {
        // q8 meets the 0.999 everywhere. The 4-bit formats stay below its 0.99 on the 64-wide
        // models (stories260K: q4 0.965, nf4 0.989 mean over 300 texts) and reach it on the trained
        // 256-wide one (cranfield-h256: q4 0.992, nf4 0.994; docs/quantization.md). The bounds are the
        // measured floors with a margin, so a regression in the kernels or the quantizer fails here.
        const [meanMin, worstMin] = FLOORS[name][format];
        expect(mean, `${name} ${format} mean`).toBeGreaterThanOrEqual(meanMin);
        expect(worst, `${name} ${format} worst`).toBeGreaterThanOrEqual(worstMin);
      }
    }, 1_800_000);
  }
});

describe('pretext training on a quantized base tracks the f32 base (stories260K, flag)', () => {
  it(`q8 and nf4: per-step loss close to the f32 base's over ${STEPS} steps`, async () => {
    const opened = await openModelFolder(STORIES);
    const text = DOCS.slice(0, 40)
      .map((d) => d.text)
      .join(' ');
    const rows = chunksToPretrainRows(chunkText(text, { by: 'words', size: 24 }));
    const adapter = await readAdapterFolder(`${DATA}goldens/llara-flag-stories260K/adapter`, opened.config);
    const losses = async (quantize?: QuantFormat): Promise<number[]> => {
      const model = await uploadModel(gpu, opened.config, opened.checkpoint, { addedTokens: 16, quantize });
      model.lora = LoraGpu.upload(gpu, model.shape, adapter);
      const lr = 5e-3;
      const trainer = new Pretrainer(model, opened.tokenizer!, rows, {
        recipe: getRecipe('flag'),
        maxLen: 160,
        batch: FULL ? 4 : 2,
        gradAccum: 1,
        steps: STEPS,
        schedule: { kind: 'constant', lr, warmupSteps: 0, totalSteps: STEPS },
        adamw: { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 },
        seed: 3,
        removeStopWords: false,
        ar: false,
        baseVocab: opened.config.vocabSize,
      });
      const out: number[] = [];
      for (let s = 0; s < STEPS; s++) out.push((await trainer.trainStep()).loss);
      trainer.destroy();
      model.destroy();
      return out;
    };
    const f32 = await losses();
    const table: string[] = [];
    const checks: [string, number, number, number][] = [];
    for (const [format, bound] of [
      ['q8', Q8_LOSS_BOUND],
      ['nf4', NF4_LOSS_BOUND],
    ] as const) {
      const q = await losses(format);
      const rel = q.map((l, s) => Math.abs(l - f32[s]) / f32[s]);
      table.push(`| ${format} | ${rel.map((r) => (100 * r).toFixed(2)).join(' ')} |`);
      for (const [s, r] of rel.entries())
        checks.push([`${format} step ${s}: ${q[s]} vs ${f32[s]}`, r, bound, s]);
    }
    if (FULL) console.log(`f32 losses ${f32.map((l) => l.toFixed(4)).join(' ')}\n${table.join('\n')}`);
    for (const [what, r, bound] of checks) expect(r, what).toBeLessThan(bound);
  }, 900_000);
});
