import { randomArray } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { absMaxRef, pow2ScaleRef } from './pow2-scale.ref.ts';
import { absMaxBits, scaleByPow2 } from './pow2-scale.ts';

// Everything here is exact: a max, and multiplications by powers of two that neither overflow nor
// (for these values) underflow. So the GPU must equal the reference bit for bit.

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

const bitsToF32 = (b: number) => new Float32Array(new Uint32Array([b]).buffer)[0];

/** Cases: sizes off the 2048-element workgroup run, magnitudes from gradients to overflow risk. */
function cases(): [string, Float32Array][] {
  const scaled = (n: number, seed: number, s: number) =>
    Float32Array.from(randomArray(n, seed), (v) => v * s);
  const exact = new Float32Array(300).fill(0.25);
  exact[17] = -4; // an exact power of two is its own scale
  const sub = new Float32Array(9).fill(1e-40); // subnormal
  return [
    ['gradients ~1e-7, 4099 values', scaled(4099, 1, 3e-7)],
    ['activations ~30, 2048 values', scaled(2048, 2, 30)],
    ['large ~1e30, 65 values', scaled(65, 3, 1e30)],
    ['one value', Float32Array.of(-0.7)],
    ['all zero', new Float32Array(100)],
    ['exact power of two', exact],
    ['subnormal', sub],
    ['20,000 values over 2 workgroups rows', scaled(20000, 4, 1)],
  ];
}

describe('power-of-two rescaling', () => {
  it('finds max |x| and divides by 2^ceil(log2 max) exactly, and multiplies back exactly', async () => {
    for (const { name, gpu } of gpus)
      for (const [what, x] of cases()) {
        const xt = gpu.tensor('f32', [x.length], x);
        const bits = gpu.tensor('u32', [1]);
        const scaled = gpu.tensor('f32', [x.length]);
        const back = gpu.tensor('f32', [x.length], new Float32Array(x.length).fill(2));
        const rec = gpu.recorder();
        rec.clear(bits);
        absMaxBits(rec, xt, bits);
        scaleByPow2(rec, xt, bits, scaled, { divide: true });
        scaleByPow2(rec, scaled, bits, back, { divide: false, accumulate: true });
        rec.submit();
        const m = bitsToF32(((await gpu.read(bits)) as Uint32Array)[0]);
        const label = `${name}: ${what}`;
        expect(m, label).toBe(Math.fround(absMaxRef(x)));
        const s = pow2ScaleRef(m);
        const got = (await gpu.read(scaled)) as Float32Array;
        const want = Float32Array.from(x, (v) => v / s);
        expect(got, label).toEqual(want);
        for (const v of got) expect(Math.abs(v), label).toBeLessThanOrEqual(1);
        expect((await gpu.read(back)) as Float32Array, label).toEqual(Float32Array.from(x, (v) => v + 2));
        for (const t of [xt, bits, scaled, back]) t.release();
      }
  });

  it('propagates NaN, and accumulates the max over several tensors', async () => {
    const { gpu } = gpus[0];
    const a = gpu.tensor('f32', [50], Float32Array.from(randomArray(50, 5)));
    const b = gpu.tensor(
      'f32',
      [3000],
      Float32Array.from(randomArray(3000, 6), (v) => v * 8),
    );
    const nan = gpu.tensor('f32', [5], Float32Array.of(1, Number.NaN, 2, 3, 4));
    const bits = gpu.tensor('u32', [1]);
    const out = gpu.tensor('f32', [50]);
    let rec = gpu.recorder();
    rec.clear(bits);
    absMaxBits(rec, a, bits);
    absMaxBits(rec, b, bits);
    rec.submit();
    const host = [...((await gpu.read(a)) as Float32Array), ...((await gpu.read(b)) as Float32Array)];
    expect(bitsToF32(((await gpu.read(bits)) as Uint32Array)[0])).toBe(Math.fround(absMaxRef(host)));
    rec = gpu.recorder();
    absMaxBits(rec, nan, bits);
    scaleByPow2(rec, a, bits, out, { divide: true });
    rec.submit();
    expect(((await gpu.read(out)) as Float32Array).every(Number.isNaN)).toBe(true);
    for (const t of [a, b, nan, bits, out]) t.release();
  });

  it('computes the reference scale at the edges', () => {
    expect(pow2ScaleRef(0)).toBe(1);
    expect(pow2ScaleRef(1)).toBe(1);
    expect(pow2ScaleRef(Math.fround(1 + 2 ** -23))).toBe(2);
    expect(pow2ScaleRef(0.75)).toBe(1);
    expect(pow2ScaleRef(3e-7)).toBe(2 ** -21);
    expect(pow2ScaleRef(1e-40)).toBe(2 ** -126);
    expect(pow2ScaleRef(Number.POSITIVE_INFINITY)).toBe(2 ** 127);
  });
});
