import { assertClose, randomArray } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { l2NormalizeBackwardRef, l2NormalizeRef } from './l2-normalize.ref.ts';
import { l2Normalize, l2NormalizeBackward } from './l2-normalize.ts';

// Tolerances. The f32 sum of squares over `dim` values, folded 256 ways, has a relative error of at
// most (dim/256 + 8) * 2^-24 (< 1e-6 for dim 4096); sqrt and the division add an ulp each, so y gets
// rtol 1e-5 and atol 1e-7 (for entries near zero). dx = (dy - y <dy,y>) / ||x|| cancels: its absolute
// error is ~ 2^-24 * (|dy| + |y| * |<dy,y>|) * sqrt(dim-fold) / ||x||, i.e. < 1e-6 for |dy| <= 1 and
// ||x|| >= 0.5 as used here, so atol 1e-6 with rtol 1e-5. Below the clamp (dx = dy * 1e12) the only
// error is dividing by f32(1e-12): rtol 1e-6.
const yTol = { atol: 1e-7, rtol: 1e-5 };
const dxTol = { atol: 1e-6, rtol: 1e-5 };

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

async function runGpu(t: TestGpu, x: Float32Array, dy: Float32Array, o: { rows: number; dim: number }) {
  const { gpu } = t;
  const xt = gpu.tensor('f32', [o.rows, o.dim], x);
  const dyt = gpu.tensor('f32', [o.rows, o.dim], dy);
  const yt = gpu.tensor('f32', [o.rows, o.dim]);
  const dxt = gpu.tensor('f32', [o.rows, o.dim]);
  const rec = gpu.recorder();
  l2Normalize(rec, xt, yt, o);
  l2NormalizeBackward(rec, xt, dyt, dxt, o);
  rec.submit();
  const out = { y: (await gpu.read(yt)) as Float32Array, dx: (await gpu.read(dxt)) as Float32Array };
  for (const z of [xt, dyt, yt, dxt]) z.release();
  return out;
}

describe('l2Normalize', () => {
  const shapes = [
    { rows: 3, dim: 7 },
    { rows: 5, dim: 300 },
    { rows: 4, dim: 4096 },
    { rows: 1, dim: 1 },
  ];
  for (const o of shapes) {
    it(`matches the f64 reference forward and backward (rows ${o.rows}, dim ${o.dim})`, async () => {
      const x = randomArray(o.rows * o.dim, o.rows * 31 + o.dim, -1, 1);
      // norms of at least ~0.5: scale short rows up (dim 1 and 7 could otherwise be tiny by chance)
      const scale = Math.max(1, 2 / Math.sqrt(o.dim));
      for (let i = 0; i < x.length; i++) x[i] = Math.fround(x[i] * scale + Math.sign(x[i]) * 0.1);
      const dy = randomArray(o.rows * o.dim, o.dim + 5, -1, 1);
      const y = l2NormalizeRef(x, o);
      const dx = l2NormalizeBackwardRef(x, dy, o);
      for (const t of gpus) {
        const got = await runGpu(t, x, dy, o);
        assertClose(got.y, y, yTol, `${t.name} y`);
        assertClose(got.dx, dx, dxTol, `${t.name} dx`);
      }
    });
  }

  it('clamps zero and tiny rows as torch does, and propagates NaN', async () => {
    const o = { rows: 3, dim: 5 };
    const x = new Float32Array(15);
    x.set([1e-14, -2e-14, 3e-14, 0, 1e-14], 5); // row 1: norm ~4e-14 < 1e-12
    x.set([1, 2, Number.NaN, 4, 5], 10); // row 2
    const dy = randomArray(15, 3, -1, 1);
    const y = l2NormalizeRef(x, o);
    const dx = l2NormalizeBackwardRef(x, dy, o);
    for (const t of gpus) {
      const got = await runGpu(t, x, dy, o);
      expect(Array.from(got.y.slice(0, 5)), t.name).toEqual([0, 0, 0, 0, 0]);
      assertClose(got.y.slice(5, 10), y.slice(5, 10), { atol: 0, rtol: 1e-6 }, `${t.name} tiny y`);
      assertClose(got.dx.slice(0, 10), dx.slice(0, 10), { atol: 0, rtol: 1e-6 }, `${t.name} clamped dx`);
      expect(got.y.slice(10).every(Number.isNaN), t.name).toBe(true);
      expect(got.dx.slice(10).every(Number.isNaN), t.name).toBe(true);
    }
  });
});

describe('l2NormalizeBackwardRef', () => {
  it('gives the gradient that central finite differences give, above and below the clamp', () => {
    const o = { rows: 2, dim: 6 };
    const x = Float64Array.from(randomArray(12, 41, -1, 1));
    for (let i = 6; i < 12; i++) x[i] *= 1e-14; // row 1 below the clamp
    const dy = Float64Array.from(randomArray(12, 42, -1, 1));
    const f = (z: ArrayLike<number>) => l2NormalizeRef(z, o).reduce((s, v, i) => s + v * dy[i], 0);
    const dx = l2NormalizeBackwardRef(x, dy, o);
    const fd = x.map((_, i) => {
      const h = i < 6 ? 1e-6 : 1e-18; // stay on the same side of the clamp
      const z = Float64Array.from(x);
      z[i] += h;
      const up = f(z);
      z[i] -= 2 * h;
      return (up - f(z)) / (2 * h);
    });
    assertClose(dx.slice(0, 6), fd.slice(0, 6), { atol: 1e-8, rtol: 1e-6 }, 'above the clamp');
    assertClose(dx.slice(6), fd.slice(6), { atol: 0, rtol: 1e-6 }, 'below the clamp');
  });
});
