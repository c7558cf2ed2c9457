import { readFileSync } from 'node:fs';
import { compareClose, fromBf16Array, fromF16Array, toBf16Array, toF16Array } from '@llara/gpu';
import { type MaskDescription, paddedCausalMask } from '@llara/kernels';
import { describe, expect, it } from 'vitest';
import { extendVocabulary, flagSpecialIds } from '../added-tokens.ts';
import { loadModelFolder, readAdapterFolder } from '../node.ts';
import { type ForwardCase, maskFromJson } from './forward-case.ts';
import { llamaForwardRef, llamaForwardRefF64, logitsAt, ropeInvFreq } from './llama-ref.ts';

const fixtures = new URL('../../test/fixtures/', import.meta.url);
const data = new URL('../../../../data/', import.meta.url);
const forward = JSON.parse(readFileSync(new URL('forward.json', fixtures), 'utf8'));

function rowsOf(hidden: Float64Array, rows: number[], h: number): Float64Array {
  const out = new Float64Array(rows.length * h);
  rows.forEach((r, k) => {
    out.set(hidden.subarray(r * h, (r + 1) * h), k * h);
  });
  return out;
}

interface Errors {
  abs: number;
  rel: number;
}

/** Worst absolute error, and worst |a - e| / |e| over values with |e| >= 0.1 (where relative is meaningful). */
function errors(a: ArrayLike<number>, e: ArrayLike<number>): Errors {
  let abs = 0;
  let rel = 0;
  for (let i = 0; i < e.length; i++) {
    const d = Math.abs(a[i] - e[i]);
    abs = Math.max(abs, d);
    if (Math.abs(e[i]) >= 0.1) rel = Math.max(rel, d / Math.abs(e[i]));
  }
  return { abs, rel };
}

const worse = (a: Errors, b: Errors): Errors => ({
  abs: Math.max(a.abs, b.abs),
  rel: Math.max(a.rel, b.rel),
});
const fmt = (e: Errors) => `max abs ${e.abs.toExponential(1)}, max rel ${e.rel.toExponential(1)}`;

// The reference (f64 throughout) against test/make_fixtures.py (plain PyTorch, HF conventions).
// - `hidden_f64`: the same torch code run in float64. Equal semantics must agree to the fixture's 11
//   digits; measured max abs error 5.0e-11 (tiny-mha, tiny-gqa). Checked once offline on stories260K
//   with and without LoRA: 2e-14.
// - `hidden`: torch in float32, as HF runs it. Torch's float32 run is itself off its float64 run by up
//   to 1.3e-6 (tiny models) and 1.1e-5 (stories260K with LoRA) absolute, so float32 rounding sets
//   this bound. Measured max abs error (and max relative error where |e| >= 0.1): tiny-mha 1.5e-6
//   (7.8e-6), tiny-gqa 1.5e-6 (8.3e-6), tiny-gqa-bf16 1.2e-6 (5.0e-6), stories260K 8.2e-6 (2.1e-5),
//   with LoRA 1.1e-5 (4.1e-5), its logits 1.4e-5 (5.2e-5).
const F32_TOL = { atol: 1.5e-5, rtol: 1e-5 };
const F64_TOL = { atol: 2e-10, rtol: 1e-9 };

describe('llamaForwardRef against PyTorch (HF LlamaForCausalLM conventions)', () => {
  for (const model of ['tiny-mha', 'tiny-gqa', 'tiny-gqa-bf16']) {
    it(`${model}: every case, float64 torch to 1e-9 and float32 torch to float32 noise`, {
      timeout: 60_000,
    }, async () => {
      const { model: m, weights } = await loadModelFolder(new URL(model, fixtures).pathname);
      let f32: Errors = { abs: 0, rel: 0 };
      let f64: Errors = { abs: 0, rel: 0 };
      for (const c of forward.models[model] as ForwardCase[]) {
        const hidden = llamaForwardRefF64(m.config, weights, {
          ids: c.ids,
          positions: c.positions,
          mask: maskFromJson(c.mask),
        });
        expect(hidden.every(Number.isFinite)).toBe(true);
        const got = rowsOf(hidden, c.rows, m.config.hiddenSize);
        const r = compareClose(got, c.hidden, F32_TOL, `${model} ${c.name} (float32 torch)`);
        expect(r.ok, r.message).toBe(true);
        f32 = worse(f32, errors(got, c.hidden));
        if (c.hidden_f64) {
          const r64 = compareClose(got, c.hidden_f64, F64_TOL, `${model} ${c.name} (float64 torch)`);
          expect(r64.ok, r64.message).toBe(true);
          f64 = worse(f64, errors(got, c.hidden_f64));
        }
      }
      console.log(`${model}: float32 torch ${fmt(f32)}; float64 torch ${fmt(f64)}`);
    });
  }
  it('stories260K (real weights): hidden states, logits, and with the golden LoRA adapter', {
    timeout: 60_000,
  }, async () => {
    const { model, weights } = await loadModelFolder(new URL('models/stories260K', data).pathname);
    const lora = await readAdapterFolder(
      new URL('goldens/llara-flag-stories260K/adapter', data).pathname,
      model.config,
    );
    const [plain, withLora] = forward.models.stories260K as ForwardCase[];
    const h = model.config.hiddenSize;
    const inputs = { ids: plain.ids, positions: plain.positions, mask: maskFromJson(plain.mask) };
    const hidden = llamaForwardRefF64(model.config, weights, inputs);
    const r1 = compareClose(rowsOf(hidden, plain.rows, h), plain.hidden, F32_TOL, 'stories260K');
    expect(r1.ok, r1.message).toBe(true);
    const logits = logitsAt(model.config, weights, hidden, [plain.ids.length - 1]);
    const r2 = compareClose(logits, plain.logits_last!, { atol: 3e-5, rtol: 2e-5 }, 'stories260K logits');
    expect(r2.ok, r2.message).toBe(true);
    const adapted = llamaForwardRefF64(model.config, weights, inputs, { lora });
    const r3 = compareClose(
      rowsOf(adapted, withLora.rows, h),
      withLora.hidden,
      F32_TOL,
      'stories260K + LoRA',
    );
    expect(r3.ok, r3.message).toBe(true);
    // The adapter must matter, or the LoRA comparison proves nothing.
    expect(compareClose(adapted, hidden, { atol: 1e-3, rtol: 0 }).ok).toBe(false);
    console.log(
      `stories260K: float32 torch ${fmt(errors(rowsOf(hidden, plain.rows, h), plain.hidden))}, ` +
        `with LoRA ${fmt(errors(rowsOf(adapted, withLora.rows, h), withLora.hidden))}, ` +
        `logits ${fmt(errors(logits, plain.logits_last!))}`,
    );
  });

  it('16-bit checkpoints load as the roundings of the f32 weights', { timeout: 60_000 }, async () => {
    const f32 = (await loadModelFolder(new URL('tiny-gqa', fixtures).pathname)).weights;
    const f16 = (await loadModelFolder(new URL('tiny-gqa-f16', fixtures).pathname)).weights;
    const bf16 = (await loadModelFolder(new URL('tiny-gqa-bf16', fixtures).pathname)).weights;
    for (const [name, w] of f32) {
      expect(f16.get(name), name).toEqual(fromF16Array(toF16Array(w)));
      expect(bf16.get(name), name).toEqual(fromBf16Array(toBf16Array(w)));
    }
  });
});

describe('llamaForwardRef semantics', () => {
  it('gives finite values for fully masked (padding) rows, and padding does not change valid rows', async () => {
    const { model, weights } = await loadModelFolder(new URL('tiny-gqa', fixtures).pathname);
    const ids = [1, 17, 99, 4];
    const alone = llamaForwardRef(model.config, weights, {
      ids,
      positions: [0, 1, 2, 3],
      mask: paddedCausalMask(4, [4], 'right'),
    });
    const mask = paddedCausalMask(7, [4, 7], 'left');
    const batch = llamaForwardRef(model.config, weights, {
      ids: [0, 0, 0, ...ids, 1, 5, 6, 7, 8, 9, 10],
      positions: [0, 0, 0, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6],
      mask,
    });
    expect(batch.every(Number.isFinite)).toBe(true);
    const h = model.config.hiddenSize;
    const r = compareClose(batch.subarray(3 * h, 7 * h), alone, { atol: 1e-6, rtol: 1e-6 });
    expect(r.ok, r.message).toBe(true);
  });

  it('computes RoPE inverse frequencies in f32 as HF does', () => {
    const f = ropeInvFreq(10000, 128);
    expect(f[0]).toBe(1);
    expect(f[1]).toBe(Math.fround(1 / Math.fround(10000 ** Math.fround(2 / 128))));
    expect(f[63]).toBeCloseTo(10000 ** (-126 / 128), 9);
  });

  it('refuses ids outside the vocabulary and missing weights by name', async () => {
    const { model, weights } = await loadModelFolder(new URL('tiny-mha', fixtures).pathname);
    const mask = paddedCausalMask(2, [2], 'right');
    expect(() => llamaForwardRef(model.config, weights, { ids: [1, 128], positions: [0, 1], mask })).toThrow(
      'Token id 128 at slot 1 is outside the vocabulary of 128.',
    );
    const partial = new Map(weights);
    partial.delete('model.layers.1.mlp.up_proj.weight');
    expect(() => llamaForwardRef(model.config, partial, { ids: [1, 2], positions: [0, 1], mask })).toThrow(
      'The reference forward needs tensor model.layers.1.mlp.up_proj.weight, which the weights lack.',
    );
  });
});

describe('the LLaRA flag golden (data/goldens/llara-flag-stories260K, PyTorch)', () => {
  it('reproduces the step-0 embeddings and losses with the added tokens and the adapter', {
    timeout: 120_000,
  }, async () => {
    const golden = JSON.parse(
      readFileSync(new URL('goldens/llara-flag-stories260K/golden.json', data), 'utf8'),
    );
    const { model, weights } = await loadModelFolder(new URL('models/stories260K', data).pathname);
    const lora = await readAdapterFolder(
      new URL('goldens/llara-flag-stories260K/adapter', data).pathname,
      model.config,
    );
    const ext = extendVocabulary(model.config, weights, 16);
    const V = ext.config.vocabSize;
    const H = ext.config.hiddenSize;
    const ids: number[] = golden.ids;
    const T = ids.length;
    const ebaeLen = golden.ebae_suffix_ids_before_specials.length + 8;
    const ebarLen = golden.ebar_suffix_ids_before_specials.length + 8;
    const aStart = T - ebarLen - ebaeLen;
    const mask: MaskDescription = {
      ...paddedCausalMask(T, [T], 'right'),
      block: Int32Array.from([aStart, aStart + ebaeLen, aStart + ebaeLen, T]),
    };
    const hidden = llamaForwardRef(
      ext.config,
      ext.weights,
      { ids, positions: golden.position_ids, mask },
      { lora },
    );

    const special = flagSpecialIds(512);
    const ebaeRows = special.ebae.map((id) => ids.lastIndexOf(id));
    const ebarRows = special.ebar.map((id) => ids.lastIndexOf(id));
    expect(ebaeRows).toEqual(Array.from({ length: 8 }, (_, k) => aStart + ebaeLen - 8 + k));
    const embedding = (rows: number[]) => {
      const e = new Float64Array(H);
      for (const r of rows) for (let c = 0; c < H; c++) e[c] += hidden[r * H + c] / rows.length;
      const n = Math.hypot(...e);
      return Float32Array.from(e, (x) => x / n);
    };
    const step0 = golden.steps[0];
    const tol = { atol: 1e-5, rtol: 1e-4 };
    for (const [what, rows, expected] of [
      ['EBAE embedding', ebaeRows, step0.emb_ebae_mean8],
      ['EBAR embedding', ebarRows, step0.emb_ebar_mean8],
    ] as const) {
      const r = compareClose(embedding([...rows]), expected, tol, what);
      expect(r.ok, r.message).toBe(true);
    }

    // Bag-of-words loss: max-pool the 8 positions' logits, log-softmax, mean over unique targets > 2, / 10.
    const bow = (rows: number[], targetsFrom: number[]) => {
      const logits = logitsAt(ext.config, ext.weights, hidden, rows);
      const pooled = new Float64Array(V).fill(Number.NEGATIVE_INFINITY);
      rows.forEach((_, k) => {
        for (let v = 0; v < V; v++) pooled[v] = Math.max(pooled[v], logits[k * V + v]);
      });
      const max = Math.max(...pooled);
      const lse = max + Math.log(pooled.reduce((s, x) => s + Math.exp(x - max), 0));
      const targets = [...new Set(targetsFrom.filter((t) => t > 2))];
      return -targets.reduce((s, t) => s + pooled[t] - lse, 0) / targets.length / 10;
    };
    expect(bow(ebaeRows, golden.ebae_targets_from)).toBeCloseTo(step0.bow_ebae, 5);
    expect(bow(ebarRows, golden.ebar_targets_from)).toBeCloseTo(step0.bow_ebar, 5);

    // AR loss: the slot before each text token predicts it.
    const textStart = golden.prefix_ids.length;
    const textRows = golden.text_ids.map((_: number, k: number) => textStart - 1 + k);
    const logits = logitsAt(ext.config, ext.weights, hidden, textRows);
    let ar = 0;
    textRows.forEach((_: number, k: number) => {
      const row = logits.subarray(k * V, (k + 1) * V);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      ar += (lse - row[golden.text_ids[k]]) / textRows.length;
    });
    expect(ar).toBeCloseTo(step0.ar, 4);
  });
});
