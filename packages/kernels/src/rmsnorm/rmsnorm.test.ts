import { assertClose, randomArray } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { centralGradient, dot } from '../elementwise/finite-difference.ts';
import { WEIGHT_DTYPES, weightSample } from '../elementwise/weight-samples.ts';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { rmsnormBackwardRef, rmsnormRef } from './rmsnorm.ref.ts';
import { rmsnorm, rmsnormBackward, rmsnormVariant } from './rmsnorm.ts';

// Tolerances. Forward: the f32 sum of squares of <= 5000 terms (<= 20 per invocation, then a tree or
// subgroup reduction of <= 256 partials) is off by <= (20 + 8) * 2^-24 ~ 2e-6 relative, inverseSqrt adds
// 2 ulp and the two products 1 ulp each, so rtol 1e-5 (atol only for values that round to ~0).
// Backward: dx is a difference of two terms of size <= ~3 here, each with that relative error, so the
// bound is absolute in the size of the terms: atol 1e-5 + rtol 1e-5.
const FWD = { atol: 1e-6, rtol: 1e-5 };
const BWD = { atol: 1e-5, rtol: 1e-5 };
const EPS = 1e-5;

const SHAPES: [number, number][] = [
  [1, 1],
  [3, 7],
  [4, 65],
  [2, 129],
  [2, 4096],
  [1, 5000],
];

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

function inputs(T: number, D: number, seed: number) {
  return {
    x: randomArray(T * D, seed, -2, 2),
    w: randomArray(D, seed + 1, 0.5, 1.5),
    dy: randomArray(T * D, seed + 2),
  };
}

describe('rmsnorm reference', () => {
  it('backward matches central differences of the forward', () => {
    for (const [T, D] of [
      [2, 7],
      [1, 33],
    ]) {
      const { x, w, dy } = inputs(T, D, 7 * D);
      const fd = centralGradient((v) => dot(dy, rmsnormRef(v, w, T, D, EPS)), x);
      // f64 central differences with h = 1e-5 are good to ~1e-9 on these O(1) values.
      assertClose(rmsnormBackwardRef(x, w, dy, T, D, EPS), fd, { atol: 1e-8, rtol: 1e-7 }, `fd ${T}x${D}`);
    }
  });
});

describe('rmsnorm on the GPU', () => {
  it('forward and backward match the reference (every weight dtype, odd shapes, both devices)', async () => {
    for (const { name, gpu } of gpus) {
      for (const dtype of WEIGHT_DTYPES) {
        for (const [T, D] of SHAPES) {
          const what = `${name}/${rmsnormVariant(gpu)} ${dtype} ${T}x${D}`;
          const { x, w, dy } = inputs(T, D, T * 1000 + D);
          const wq = weightSample(w, dtype);
          const xt = gpu.tensor('f32', [T, D], x);
          const wt = gpu.tensor(dtype, [D], wq.data);
          const yt = gpu.tensor('f32', [T, D]);
          const dyt = gpu.tensor('f32', [T, D], dy);
          const dxt = gpu.tensor('f32', [T, D]);
          const rec = gpu.recorder();
          rmsnorm(rec, xt, wt, yt, EPS);
          rmsnormBackward(rec, xt, wt, dyt, dxt, EPS);
          rec.submit();
          assertClose(await gpu.read(yt), rmsnormRef(x, wq.values, T, D, EPS), FWD, `y ${what}`);
          assertClose(
            await gpu.read(dxt),
            rmsnormBackwardRef(x, wq.values, dy, T, D, EPS),
            BWD,
            `dx ${what}`,
          );
          for (const t of [xt, wt, yt, dyt, dxt]) t.release();
        }
      }
    }
  });

  it('accumulates into dx when asked', async () => {
    const [T, D] = [3, 65];
    const { x, w, dy } = inputs(T, D, 99);
    const prior = randomArray(T * D, 100);
    const ref = rmsnormBackwardRef(x, w, dy, T, D, EPS).map((v, i) => v + prior[i]);
    for (const { name, gpu } of gpus) {
      const xt = gpu.tensor('f32', [T, D], x);
      const wt = gpu.tensor('f32', [D], w);
      const dyt = gpu.tensor('f32', [T, D], dy);
      const dxt = gpu.tensor('f32', [T, D], prior);
      const rec = gpu.recorder();
      rmsnormBackward(rec, xt, wt, dyt, dxt, EPS, true);
      rec.submit();
      assertClose(await gpu.read(dxt), ref, BWD, `accumulate ${name}`);
    }
  });

  it('lets NaN and Inf through as the formula does, without touching other rows', async () => {
    const D = 9;
    const x = randomArray(3 * D, 5);
    x[2] = Number.NaN; // row 0: NaN everywhere
    x[D + 4] = Number.POSITIVE_INFINITY; // row 1: mean is Inf, so the Inf becomes NaN and the rest 0
    const w = randomArray(D, 6, 0.5, 1.5);
    const ref = rmsnormRef(x, w, 3, D, EPS);
    expect(Number.isNaN(ref[0]) && Number.isNaN(ref[D + 4]) && ref[D] === 0).toBe(true);
    for (const { name, gpu } of gpus) {
      const xt = gpu.tensor('f32', [3, D], x);
      const wt = gpu.tensor('f32', [D], w);
      const yt = gpu.tensor('f32', [3, D]);
      const rec = gpu.recorder();
      rmsnorm(rec, xt, wt, yt, EPS);
      rec.submit();
      assertClose(await gpu.read(yt), ref, FWD, `non-finite rows ${name}`);
    }
  });

  it('folds more than 65,535 rows into a 2-D dispatch', async () => {
    const [T, D] = [65_537, 1];
    const x = randomArray(T, 11);
    const w = new Float32Array([1.5]);
    for (const { name, gpu } of gpus) {
      const xt = gpu.tensor('f32', [T, D], x);
      const wt = gpu.tensor('f32', [D], w);
      const yt = gpu.tensor('f32', [T, D]);
      const rec = gpu.recorder();
      rmsnorm(rec, xt, wt, yt, EPS);
      rec.submit();
      assertClose(await gpu.read(yt), rmsnormRef(x, w, T, D, EPS), FWD, `folded ${name}`);
    }
  });

  it('rejects mismatched shapes and aliased outputs with one sentence', () => {
    const { gpu } = gpus[0];
    const x = gpu.tensor('f32', [2, 8]);
    const w = gpu.tensor('f32', [7]);
    const rec = gpu.recorder();
    expect(() => rmsnorm(rec, x, w, gpu.tensor('f32', [2, 8]), EPS)).toThrow(/last dimension of x/);
    const w8 = gpu.tensor('f32', [8]);
    expect(() => rmsnorm(rec, x, w8, x, EPS)).toThrow(/must not share its buffer with x/);
    expect(() => rmsnorm(rec, x, gpu.tensor('i32', [8]), gpu.tensor('f32', [2, 8]), EPS)).toThrow(
      /weight tensor must be f32 or f16 or bf16/,
    );
    expect(rec.pending).toBe(0);
  });
});
