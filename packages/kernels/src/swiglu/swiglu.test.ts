import { assertClose, randomArray } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { centralGradient, dot } from '../elementwise/finite-difference.ts';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { swigluBackwardRef, swigluRef } from './swiglu.ref.ts';
import { swiglu, swigluBackward } from './swiglu.ts';

// Tolerances. WGSL's exp is good to 3 + 2|x| ulp; with |gate| <= 8 that is <= 19 ulp ~ 1.2e-6 relative
// in sigmoid, plus a few ulp from the division and products: forward rtol 5e-6 (atol for results that
// underflow). silu' = s (1 + g (1 - s)) cancels near g ~ -1.28, so the backward error is absolute in
// the size of its terms (|dOut * up * s * g| <= 16 here): atol 1e-6 on top of the same rtol.
const FWD = { atol: 1e-7, rtol: 5e-6 };
const BWD = { atol: 1e-6, rtol: 5e-6 };
const SHAPES: [number, number][] = [
  [1, 1],
  [3, 7],
  [5, 65],
  [2, 129],
  [1, 11008],
];

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

describe('swiglu reference', () => {
  it('backward matches central differences of the forward', () => {
    const n = 40;
    const gate = randomArray(n, 1, -8, 8);
    const up = randomArray(n, 2, -2, 2);
    const dOut = randomArray(n, 3);
    const { dGate, dUp } = swigluBackwardRef(gate, up, dOut);
    // f64 central differences with h = 1e-5 are good to ~1e-8 on these values.
    const tol = { atol: 1e-8, rtol: 1e-7 };
    assertClose(
      dGate,
      centralGradient((g) => dot(dOut, swigluRef(g, up)), gate),
      tol,
      'fd gate',
    );
    assertClose(
      dUp,
      centralGradient((u) => dot(dOut, swigluRef(gate, u)), up),
      tol,
      'fd up',
    );
  });
});

describe('swiglu on the GPU', () => {
  it('forward and backward match the reference (odd shapes, both devices)', async () => {
    for (const { name, gpu } of gpus) {
      for (const [T, I] of SHAPES) {
        const n = T * I;
        const gate = randomArray(n, n, -8, 8);
        const up = randomArray(n, n + 1, -2, 2);
        const dOut = randomArray(n, n + 2);
        const [gt, ut, dOutT, out, dg, du] = [gate, up, dOut, null, null, null].map((v) =>
          v ? gpu.tensor('f32', [T, I], v) : gpu.tensor('f32', [T, I]),
        );
        const rec = gpu.recorder();
        swiglu(rec, gt, ut, out);
        swigluBackward(rec, gt, ut, dOutT, dg, du);
        rec.submit();
        const what = `${name} ${T}x${I}`;
        const ref = swigluBackwardRef(gate, up, dOut);
        assertClose(await gpu.read(out), swigluRef(gate, up), FWD, `out ${what}`);
        assertClose(await gpu.read(dg), ref.dGate, BWD, `dGate ${what}`);
        assertClose(await gpu.read(du), ref.dUp, BWD, `dUp ${what}`);
        for (const t of [gt, ut, dOutT, out, dg, du]) t.release();
      }
    }
  });

  it('lets NaN and Inf through as PyTorch does, and never overflows for large |gate|', async () => {
    const gate = new Float32Array([
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      0,
      -0,
      100,
      -100,
      1e38,
      -1e38,
    ]);
    const up = randomArray(gate.length, 4, 0.5, 2);
    const ref = swigluRef(gate, up);
    expect([ref[0], ref[2]].every(Number.isNaN) && ref[1] === Number.POSITIVE_INFINITY).toBe(true);
    for (const { name, gpu } of gpus) {
      const gt = gpu.tensor('f32', [gate.length], gate);
      const ut = gpu.tensor('f32', [gate.length], up);
      const out = gpu.tensor('f32', [gate.length]);
      const rec = gpu.recorder();
      swiglu(rec, gt, ut, out);
      rec.submit();
      assertClose(await gpu.read(out), ref, FWD, `special values ${name}`);
    }
  });

  it('rejects aliased outputs and mismatched sizes with one sentence', () => {
    const { gpu } = gpus[0];
    const rec = gpu.recorder();
    const a = gpu.tensor('f32', [2, 3]);
    const b = gpu.tensor('f32', [2, 3]);
    expect(() => swiglu(rec, a, b, a)).toThrow(/swiglu: the out tensor must not share its buffer with gate/);
    expect(() => swiglu(rec, a, gpu.tensor('f32', [5]), b)).toThrow(/the up tensor must have 6 elements/);
    expect(() => swigluBackward(rec, a, b, b, a, gpu.tensor('f32', [6]))).toThrow(
      /dGate tensor must not share/,
    );
    expect(rec.pending).toBe(0);
  });
});
