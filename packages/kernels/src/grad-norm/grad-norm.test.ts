import { assertClose, randomArray } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adamwRef } from '../adamw/adamw.ref.ts';
import { adamw } from '../adamw/adamw.ts';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { clipFactorRef, sumSquaresRef } from './grad-norm.ref.ts';
import { clipFactor, sumSquaresInto, zeroAcc } from './grad-norm.ts';

// f32 squares summed by each invocation (at most ~n/(256*1024)+16 terms, four interleaved chains),
// then a 256-way tree and <= 1024 partials: the relative error stays within ~40 * 2^-24 of the f64
// sum of positive terms, so rtol 1e-5 has a wide margin. The norm (sqrt) halves it; the factor adds
// a division.
const sumTol = { atol: 0, rtol: 1e-5 };

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

/** Squared norm of all `xs` and [norm, factor] for each max norm. */
async function normOnGpu(t: TestGpu, xs: Float32Array[], maxNorms: number[]) {
  const { gpu } = t;
  const acc = gpu.tensor('f32', [1], new Float32Array([12345])); // garbage that zeroAcc must clear
  const outs = maxNorms.map(() => gpu.tensor('f32', [2]));
  const tensors = xs.map((x) => gpu.tensor('f32', [x.length], x));
  const rec = gpu.recorder();
  zeroAcc(rec, acc);
  for (const x of tensors) sumSquaresInto(rec, x, acc);
  for (let i = 0; i < maxNorms.length; i++) clipFactor(rec, acc, outs[i], maxNorms[i]);
  rec.submit();
  const total = ((await gpu.read(acc)) as Float32Array)[0];
  const clips: number[][] = [];
  for (const out of outs) clips.push(Array.from((await gpu.read(out)) as Float32Array));
  for (const z of [acc, ...outs, ...tensors]) z.release();
  return { total, clips };
}

describe('gradient norm', { timeout: 60_000 }, () => {
  for (const n of [1, 7, 1000, 300001]) {
    it(`sums squares and computes the clip factor (n ${n})`, async () => {
      const x = randomArray(n, n, -2, 2);
      const total = sumSquaresRef(x);
      const maxNorms = [0.5, 1e9, 0];
      for (const t of gpus) {
        const got = await normOnGpu(t, [x], maxNorms);
        assertClose([got.total], [total], sumTol, `${t.name} sum of squares`);
        for (let i = 0; i < maxNorms.length; i++) {
          const m = maxNorms[i];
          assertClose(got.clips[i], clipFactorRef(total, m), sumTol, `${t.name} [norm, factor] maxNorm ${m}`);
        }
      }
    });
  }

  it('accumulates over several tensors', async () => {
    const xs = [1, 7, 1000, 300001, 5000].map((n, i) => randomArray(n, 100 + i, -1, 1));
    const total = xs.reduce((s, x) => s + sumSquaresRef(x), 0);
    for (const t of gpus) {
      const got = await normOnGpu(t, xs, [1]);
      assertClose([got.total, ...got.clips[0]], [total, ...clipFactorRef(total, 1)], sumTol, t.name);
      expect(got.clips[0][1]).toBeLessThan(0.01);
    }
  });

  it('gives a NaN norm and factor when a gradient holds NaN', async () => {
    const x = randomArray(100, 9);
    x[50] = Number.NaN;
    for (const t of gpus) {
      const [[norm, factor]] = (await normOnGpu(t, [x], [1])).clips;
      expect(Number.isNaN(norm) && Number.isNaN(factor), t.name).toBe(true);
    }
  });

  it('clips through adamw with the factor read on the GPU', async () => {
    const sizes = [7, 1000];
    const maxNorm = 0.25;
    const hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    for (const t of gpus) {
      const { gpu } = t;
      const p0 = sizes.map((n, i) => randomArray(n, 10 + i));
      const refP = p0.map((p) => Float64Array.from(p));
      const refM = sizes.map((n) => new Float64Array(n));
      const refV = sizes.map((n) => new Float64Array(n));
      const P = p0.map((p) => gpu.tensor('f32', [p.length], p));
      const M = sizes.map((n) => gpu.zeros('f32', [n]));
      const V = sizes.map((n) => gpu.zeros('f32', [n]));
      const acc = gpu.tensor('f32', [1]);
      const clip = gpu.tensor('f32', [2]);
      for (let step = 1; step <= 2; step++) {
        const grads = sizes.map((n, i) => randomArray(n, 20 * step + i, -3, 3));
        const G = grads.map((g) => gpu.tensor('f32', [g.length], g));
        const rec = gpu.recorder();
        zeroAcc(rec, acc);
        for (const g of G) sumSquaresInto(rec, g, acc);
        clipFactor(rec, acc, clip, maxNorm);
        for (let i = 0; i < sizes.length; i++)
          adamw(rec, P[i], G[i], M[i], V[i], { ...hyper, step, scaleBuf: clip });
        rec.submit();
        const total = grads.reduce((s, g) => s + sumSquaresRef(g), 0);
        const [, factor] = clipFactorRef(total, maxNorm);
        expect(factor).toBeLessThan(1);
        for (let i = 0; i < sizes.length; i++)
          adamwRef(refP[i], grads[i], refM[i], refV[i], { ...hyper, step, gradScale: factor });
        for (const g of G) g.release();
      }
      for (let i = 0; i < sizes.length; i++) {
        assertClose(
          (await gpu.read(P[i])) as Float32Array,
          refP[i],
          { atol: 1e-6, rtol: 1e-5 },
          `${t.name} param ${i}`,
        );
        assertClose(
          (await gpu.read(M[i])) as Float32Array,
          refM[i],
          { atol: 1e-7, rtol: 1e-4 },
          `${t.name} m ${i}`,
        );
      }
      for (const z of [...P, ...M, ...V, acc, clip]) z.release();
    }
  });

  it('rejects aliased or undersized tensors with one clear sentence', () => {
    const { gpu } = gpus[0];
    const a = gpu.tensor('f32', [2]);
    const one = gpu.tensor('f32', [1]);
    const rec = gpu.recorder();
    expect(() => clipFactor(rec, a, a, 1)).toThrow('clipFactor: acc and out must be different tensors.');
    expect(() => clipFactor(rec, a, one, 1)).toThrow(/out .* at least 2 elements/);
    a.release();
    one.release();
  });
});
