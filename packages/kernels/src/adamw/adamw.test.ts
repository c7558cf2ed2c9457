import { assertClose, compareClose, randomArray } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { adamwRef } from './adamw.ref.ts';
import { type AdamwOptions, adamw } from './adamw.ts';
import golden from './adamw-golden.json';

// Against PyTorch (same f32 operations in the same order, but CPU vector kernels may fuse or round
// intermediate products differently): a few ulps, so rtol 1e-6 with atol 1e-9 for values near zero.
const torchTol = { atol: 1e-9, rtol: 1e-6 };
// Against the f64 reference: each step rounds p, m, v a handful of times in f32 (relative 2^-24
// each). m = b1 m + (1-b1) g cancels when g changes sign, so its error is relative to the terms
// (|g| <= 2 here: a few ulps of 0.2, ~1e-8 each), hence atol 1e-7. The update
// lr * mhat / (sqrt(vhat) + eps) is O(lr) and its f32 error O(lr * 1e-6).
const refTol = { p: { atol: 1e-7, rtol: 1e-6 }, mv: { atol: 1e-7, rtol: 1e-5 } };

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

type Hyper = Omit<AdamwOptions, 'step' | 'scaleBuf' | 'gradScale'>;

/** Runs `grads.length` steps from `p0` on the GPU; `scale(step)` picks how the grad scale is given. */
async function runSteps(
  t: TestGpu,
  p0: Float32Array,
  grads: Float32Array[],
  hyper: Hyper,
  scale?: { value: number; viaBuffer: boolean },
) {
  const { gpu } = t;
  const n = p0.length;
  const P = gpu.tensor('f32', [n], p0);
  const M = gpu.zeros('f32', [n]);
  const V = gpu.zeros('f32', [n]);
  // The factor sits at index 2 to check that scaleIndex is honoured.
  const S = gpu.tensor('f32', [3], new Float32Array([7, 7, scale?.value ?? 1]));
  const after: { p: Float32Array; m: Float32Array; v: Float32Array }[] = [];
  for (let i = 0; i < grads.length; i++) {
    const G = gpu.tensor('f32', [n], grads[i]);
    const rec = gpu.recorder();
    const step = i + 1;
    if (scale?.viaBuffer)
      adamw(rec, P, G, M, V, { ...hyper, step, scaleBuf: S, scaleIndex: 2, gradScale: 5 });
    else adamw(rec, P, G, M, V, { ...hyper, step, gradScale: scale?.value });
    rec.submit();
    after.push({
      p: (await gpu.read(P)) as Float32Array,
      m: (await gpu.read(M)) as Float32Array,
      v: (await gpu.read(V)) as Float32Array,
    });
    G.release();
  }
  for (const z of [P, M, V, S]) z.release();
  return after;
}

function refSteps(p0: Float32Array, grads: Float32Array[], hyper: Hyper, gradScale = 1) {
  const p = Float64Array.from(p0);
  const m = new Float64Array(p0.length);
  const v = new Float64Array(p0.length);
  return grads.map((g, i) => {
    adamwRef(p, g, m, v, { ...hyper, step: i + 1, gradScale });
    return { p: p.slice(), m: m.slice(), v: v.slice() };
  });
}

describe('adamw', { timeout: 60_000 }, () => {
  for (const c of golden.cases) {
    it(`matches torch.optim.AdamW for 3 steps (weight decay ${c.weightDecay})`, async () => {
      const hyper = { lr: c.lr, beta1: c.beta1, beta2: c.beta2, eps: c.eps, weightDecay: c.weightDecay };
      const grads = c.steps.map((s) => Float32Array.from(s.grad));
      for (const t of gpus) {
        const got = await runSteps(t, Float32Array.from(c.param0), grads, hyper);
        c.steps.forEach((s, i) => {
          assertClose(got[i].p, s.param, torchTol, `${t.name} step ${i + 1} param`);
          assertClose(got[i].m, s.exp_avg, torchTol, `${t.name} step ${i + 1} exp_avg`);
          assertClose(got[i].v, s.exp_avg_sq, torchTol, `${t.name} step ${i + 1} exp_avg_sq`);
        });
      }
    });
  }

  const hyper = { lr: 3e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05 };
  for (const [n, weightDecay] of [
    [1, 0.05],
    [1000, 0],
    [70001, 0.05],
  ]) {
    it(`matches the f64 reference (n ${n}, weight decay ${weightDecay})`, async () => {
      const h = { ...hyper, weightDecay };
      const p0 = randomArray(n, n, -1, 1);
      const grads = [1, 2, 3].map((s) => randomArray(n, n + s, -2, 2));
      const ref = refSteps(p0, grads, h);
      for (const t of gpus) {
        const got = await runSteps(t, p0, grads, h);
        ref.forEach((r, i) => {
          assertClose(got[i].p, r.p, refTol.p, `${t.name} step ${i + 1} param`);
          assertClose(got[i].m, r.m, refTol.mv, `${t.name} step ${i + 1} m`);
          assertClose(got[i].v, r.v, refTol.mv, `${t.name} step ${i + 1} v`);
        });
      }
    });
  }

  it('decays weights only when weight decay is on', async () => {
    // A zero gradient leaves m = v = 0, so the only change is the decay p *= 1 - lr * wd.
    const p0 = randomArray(64, 3);
    const zero = [new Float32Array(64)];
    for (const t of gpus) {
      const [off] = await runSteps(t, p0, zero, { ...hyper, weightDecay: 0 });
      expect(Array.from(off.p)).toEqual(Array.from(p0));
      const [on] = await runSteps(t, p0, zero, { ...hyper, weightDecay: 0.1 });
      assertClose(
        on.p,
        Array.from(p0, (x) => x * (1 - 3e-4)),
        { atol: 0, rtol: 1e-7 },
        `${t.name} decay`,
      );
    }
  });

  it('scales the gradient by gradScale or by scaleBuf[scaleIndex]', async () => {
    const n = 300;
    const p0 = randomArray(n, 4);
    const grads = [1, 2].map((s) => randomArray(n, 40 + s, -5, 5));
    const ref = refSteps(p0, grads, hyper, 0.125);
    const unscaled = refSteps(p0, grads, hyper, 1);
    for (const t of gpus) {
      for (const viaBuffer of [false, true]) {
        const got = await runSteps(t, p0, grads, hyper, { value: 0.125, viaBuffer });
        assertClose(
          got[1].p,
          ref[1].p,
          refTol.p,
          `${t.name} param (scale via ${viaBuffer ? 'buffer' : 'option'})`,
        );
        assertClose(got[1].m, ref[1].m, refTol.mv, `${t.name} m`);
        expect(compareClose(got[1].m, unscaled[1].m, refTol.mv).ok).toBe(false);
      }
    }
  });

  it('rejects a bad step or mismatched tensors with one clear sentence', () => {
    const { gpu } = gpus[0];
    const a = gpu.tensor('f32', [4]);
    const b = gpu.tensor('f32', [5]);
    const rec = gpu.recorder();
    expect(() => adamw(rec, a, a, a, a, { ...hyper, step: 0 })).toThrow(/step must be a positive integer/);
    expect(() => adamw(rec, a, b, a, a, { ...hyper, step: 1 })).toThrow(
      'adamw: grad Tensor(f32[5], f32[5]) has 5 elements but param has 4.',
    );
    a.release();
    b.release();
  });
});
