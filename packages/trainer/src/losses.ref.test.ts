import { readFileSync } from 'node:fs';
import { assertClose } from '@llara/gpu';
import { describe, expect, it } from 'vitest';
import { IGNORE_INDEX } from './layout.ts';
import {
  arLossRef,
  bowLossRef,
  combinePretrainLosses,
  flagBowLossRef,
  infoNceRef,
  l2NormalizeBackwardRef,
  l2NormalizeRef,
  paperBowLossRef,
} from './losses.ref.ts';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/losses.fixture.json', import.meta.url), 'utf8'));

function randn(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

/** Central differences of f at x, one coordinate at a time. */
function numericGrad(f: (x: Float64Array) => number, x: Float64Array, h = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const keep = x[i];
    x[i] = keep + h;
    const up = f(x);
    x[i] = keep - h;
    const down = f(x);
    x[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

const FD = { atol: 1e-8, rtol: 1e-5 };

describe('bag-of-words losses', () => {
  it('flag: matches its definition on a hand-checked case', () => {
    // One row, K = 2, V = 4: pooled = max per column = [1, 2, 0, 3].
    const logits = [1, -1, 0, 3, 0, 2, -5, 1];
    const pooled = [1, 2, 0, 3];
    const lse = Math.log(pooled.reduce((a, x) => a + Math.exp(x), 0));
    const { loss, perRow } = flagBowLossRef(logits, { B: 1, K: 2, V: 4 }, [[3, 3, 1, 2, 0]]);
    expect(loss).toBeCloseTo(-(3 - lse) / 10, 14); // only id 3 is > 2, repeats collapse
    expect(perRow).toEqual([loss]);
  });

  it('flag: gradient equals central differences', () => {
    const shape = { B: 3, K: 8, V: 29 };
    const x = randn(shape.B * shape.K * shape.V, 7);
    const targets = [[5, 9, 9, 28, 1], [3], [0, 2]];
    const { grad } = flagBowLossRef(x, shape, targets);
    assertClose(
      grad,
      numericGrad((y) => flagBowLossRef(y, shape, targets).loss, x),
      FD,
    );
    // The row without usable targets gets no gradient.
    expect(grad.slice(2 * 8 * 29).every((v) => v === 0)).toBe(true);
  });

  it('paper: repeats count, gradient equals central differences', () => {
    const shape = { B: 2, V: 13 };
    const x = randn(shape.B * shape.V, 11);
    const targets = [
      [4, 4, 7],
      [12, 3],
    ];
    const r = paperBowLossRef(x, shape, targets);
    const lp = (b: number, t: number) => {
      const row = Array.from(x.slice(b * 13, b * 13 + 13));
      const m = Math.max(...row);
      return row[t] - m - Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    };
    const expected = (-(2 * lp(0, 4) + lp(0, 7)) / 3 - (lp(1, 12) + lp(1, 3)) / 2) / 2;
    expect(r.loss).toBeCloseTo(expected, 12);
    assertClose(
      r.grad,
      numericGrad((y) => paperBowLossRef(y, shape, targets).loss, x),
      FD,
    );
  });

  it('matches PyTorch autograd on the released formula', () => {
    const f = fixture.flagBow;
    const r = flagBowLossRef(f.logits, { B: f.B, K: f.K, V: f.V }, f.targets);
    assertClose([r.loss], [f.loss], { atol: 1e-12, rtol: 1e-12 });
    assertClose(r.grad, f.grad, { atol: 1e-14, rtol: 1e-10 });
  });

  it('rejects a target outside the vocabulary', () => {
    expect(() =>
      bowLossRef([0, 0, 0, 0], { B: 1, K: 1, V: 4 }, [[7]], { pool: 'single', unique: true, scale: 1 }),
    ).toThrow(/outside the vocabulary/);
  });
});

describe('AR cross-entropy', () => {
  it('is the mean over labelled tokens, gradient equals central differences', () => {
    const shape = { N: 6, V: 11 };
    const x = randn(shape.N * shape.V, 3);
    const t = [IGNORE_INDEX, 3, 10, IGNORE_INDEX, 0, 3];
    const r = arLossRef(x, shape, t);
    expect(r.count).toBe(4);
    assertClose(
      r.grad,
      numericGrad((y) => arLossRef(y, shape, t).loss, x),
      FD,
    );
    const none = arLossRef(x, shape, new Array(6).fill(IGNORE_INDEX));
    expect([none.loss, none.count]).toEqual([0, 0]);
  });

  it('matches PyTorch autograd', () => {
    const f = fixture.ar;
    const r = arLossRef(f.logits, { N: f.N, V: f.V }, f.targets);
    assertClose([r.loss], [f.loss], { atol: 1e-12, rtol: 1e-12 });
    assertClose(r.grad, f.grad, { atol: 1e-14, rtol: 1e-10 });
  });
});

describe('InfoNCE', () => {
  const shape = { B: 3, g: 3, d: 5 };
  const q = randn(shape.B * shape.d, 5);
  const p = randn(shape.B * shape.g * shape.d, 6);

  for (const inBatch of [true, false]) {
    it(`gradients equal central differences (in-batch negatives ${inBatch})`, () => {
      const r = infoNceRef(q, p, shape, 0.5, inBatch);
      expect(r.logits.length).toBe(shape.B * (inBatch ? shape.B * shape.g : shape.g));
      assertClose(
        r.gradQ,
        numericGrad((y) => infoNceRef(y, p, shape, 0.5, inBatch).loss, q),
        FD,
      );
      assertClose(
        r.gradP,
        numericGrad((y) => infoNceRef(q, y, shape, 0.5, inBatch).loss, p),
        FD,
      );
    });
  }

  it('scores each query against all passages with its own positive as the target', () => {
    // Two queries, groups of 1: query i equals passage i, so the loss is a 2-way softmax.
    const r = infoNceRef([1, 0, 0, 1], [1, 0, 0, 1], { B: 2, g: 1, d: 2 }, 0.1);
    expect(r.loss).toBeCloseTo(Math.log(1 + Math.exp(-10)), 12);
  });

  it('with L2 normalisation matches PyTorch autograd (released BiEncoderModel)', () => {
    const f = fixture.infoNce;
    const qs = { N: f.B, d: f.d };
    const ps = { N: f.B * f.g, d: f.d };
    const r = infoNceRef(l2NormalizeRef(f.q, qs), l2NormalizeRef(f.p, ps), { B: f.B, g: f.g, d: f.d }, f.tau);
    assertClose([r.loss], [f.loss], { atol: 1e-12, rtol: 1e-12 });
    assertClose(l2NormalizeBackwardRef(f.q, r.gradQ, qs), f.gradQ, { atol: 1e-12, rtol: 1e-9 });
    assertClose(l2NormalizeBackwardRef(f.p, r.gradP, ps), f.gradP, { atol: 1e-12, rtol: 1e-9 });
  });
});

describe('L2 normalisation and loss totals', () => {
  it('backward equals central differences', () => {
    const shape = { N: 2, d: 4 };
    const x = randn(8, 9);
    const dy = randn(8, 10);
    const f = (y: Float64Array) => l2NormalizeRef(y, shape).reduce((a, v, i) => a + v * dy[i], 0);
    assertClose(l2NormalizeBackwardRef(x, dy, shape), numericGrad(f, x), FD);
  });

  it('combines the parts as the recipes say', () => {
    expect(combinePretrainLosses({ combine: 'mean' }, { ebae: 0.7, ebar: 0.9, ar: 4 })).toEqual({
      bow: 0.8,
      total: 4.8,
    });
    expect(combinePretrainLosses({ combine: 'sum' }, { ebae: 0.5, ebar: 0.25 })).toEqual({
      bow: 0.75,
      total: 0.75,
    });
  });
});
