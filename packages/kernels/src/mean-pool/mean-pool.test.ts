import { assertClose, randomArray, seededRandom } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { meanPoolBackwardRef, meanPoolRef } from './mean-pool.ref.ts';
import { meanPool, meanPoolBackward, meanPoolRows } from './mean-pool.ts';

// Tolerances: the forward sums P <= 8 f32 values in order and divides once, so its relative error is
// at most ~(P + 1) * 2^-24 of the summed magnitudes (values in [-1, 1]): atol 1e-6, rtol 1e-6. The
// backward rounds dOut / P once and adds it once: rtol 1e-6 with atol 1e-7 for cancellations.
const fwdTol = { atol: 1e-6, rtol: 1e-6 };
const bwdTol = { atol: 1e-7, rtol: 1e-6 };

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

/** `count` distinct row indices in [0, total), shuffled. */
function distinctRows(count: number, total: number, seed: number): Int32Array {
  const r = seededRandom(seed);
  const all = Array.from({ length: total }, (_, i) => i);
  for (let i = total - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return Int32Array.from(all.slice(0, count));
}

describe('meanPool', () => {
  const cases = [
    { groups: 3, positions: 8, dim: 7, total: 40, rows: distinctRows(24, 40, 1) },
    { groups: 2, positions: 1, dim: 4096, total: 5, rows: Int32Array.from([4, 1]) },
    { groups: 5, positions: 8, dim: 65, total: 5 * 19, rows: meanPoolRows(5, 19, 8) },
    { groups: 4, positions: 3, dim: 33, total: 12, rows: distinctRows(12, 12, 2) },
  ];
  for (const c of cases) {
    it(`matches the f64 reference forward and backward (G ${c.groups}, P ${c.positions}, dim ${c.dim})`, async () => {
      const o = { groups: c.groups, positions: c.positions, dim: c.dim };
      const h = randomArray(c.total * c.dim, c.dim, -1, 1);
      const dOut = randomArray(c.groups * c.dim, c.dim + 1, -1, 1);
      const dh0 = randomArray(c.total * c.dim, c.dim + 2, -1, 1); // the backward accumulates into this
      const out = meanPoolRef(h, c.rows, o);
      const dh = meanPoolBackwardRef(dOut, c.rows, dh0, o);
      for (const { gpu, name } of gpus) {
        const ht = gpu.tensor('f32', [c.total, c.dim], h);
        const rt = gpu.tensor('i32', [c.rows.length], c.rows);
        const ot = gpu.tensor('f32', [c.groups, c.dim]);
        const dot = gpu.tensor('f32', [c.groups, c.dim], dOut);
        const dht = gpu.tensor('f32', [c.total, c.dim], dh0);
        const rec = gpu.recorder();
        meanPool(rec, ht, rt, ot, o);
        meanPoolBackward(rec, dot, rt, dht, o);
        rec.submit();
        assertClose((await gpu.read(ot)) as Float32Array, out, fwdTol, `${name} out`);
        assertClose((await gpu.read(dht)) as Float32Array, dh, bwdTol, `${name} dh`);
        for (const z of [ht, rt, ot, dot, dht]) z.release();
      }
    });
  }

  it('lists the last positions of each sequence', () => {
    expect(Array.from(meanPoolRows(2, 5, 3))).toEqual([2, 3, 4, 7, 8, 9]);
    expect(() => meanPoolRows(1, 4, 8)).toThrow(/last 8 of 4/);
  });
});

describe('meanPoolBackwardRef', () => {
  it('gives the gradient that central finite differences give', () => {
    const o = { groups: 2, positions: 3, dim: 4 };
    const rows = [5, 0, 2, 1, 4, 6];
    const h = Float64Array.from(randomArray(7 * 4, 3, -1, 1));
    const dOut = Float64Array.from(randomArray(2 * 4, 4, -1, 1));
    const f = (x: ArrayLike<number>) => meanPoolRef(x, rows, o).reduce((s, v, i) => s + v * dOut[i], 0);
    const dh = meanPoolBackwardRef(dOut, rows, new Float64Array(h.length), o);
    const hStep = 1e-6;
    const fd = h.map((_, i) => {
      const x = Float64Array.from(h);
      x[i] += hStep;
      const up = f(x);
      x[i] -= 2 * hStep;
      return (up - f(x)) / (2 * hStep);
    });
    assertClose(dh, fd, { atol: 1e-9, rtol: 1e-7 });
  });
});
