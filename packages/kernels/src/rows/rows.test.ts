import { assertClose, randomArray, seededRandom } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { centralGradient, dot } from '../elementwise/finite-difference.ts';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { gatherRowsRef, scatterAddRowsRef } from './rows.ref.ts';
import { gatherRows, scatterAddRows } from './rows.ts';

// Tolerances: a gather copies values exactly; a scatter-add is one correctly rounded f32 addition per
// element (rows are distinct), within 2^-24 relative of the exact sum: rtol 1.2e-7.
const EXACT = { atol: 0, rtol: 0 };
const ONE_ADD = { atol: 0, rtol: 1.2e-7 };
const SHAPES: [number, number, number][] = [
  // [T, D, R]
  [5, 1, 3],
  [9, 7, 4],
  [20, 65, 6],
  [4, 4096, 2],
];

/** R distinct row indices, the second one outside [0, T) when there is room. */
function rowsFor(T: number, R: number, seed: number): Int32Array {
  const r = seededRandom(seed);
  const order = Array.from({ length: T }, (_, i) => i).sort(() => r() - 0.5);
  const rows = Int32Array.from(order.slice(0, R));
  if (R > 1) rows[1] = seed % 2 ? -1 : T;
  return rows;
}

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

describe('row gather and scatter-add', () => {
  it('scatter-add reference is the gradient of gather (central differences)', () => {
    const [T, D, R] = [6, 3, 4];
    const rows = rowsFor(T, R, 3);
    const x = randomArray(T * D, 1);
    const dOut = randomArray(R * D, 2);
    const fd = centralGradient((v) => dot(dOut, gatherRowsRef(v, rows, T, D)), x);
    // Linear, so central differences are exact up to f64 rounding.
    assertClose(scatterAddRowsRef(dOut, rows, new Float64Array(T * D), D), fd, { atol: 1e-9, rtol: 0 }, 'fd');
  });

  it('match the reference, NaN and Inf passing through (odd shapes, both devices)', async () => {
    for (const { name, gpu } of gpus) {
      for (const [T, D, R] of SHAPES) {
        const what = `${name} T=${T} D=${D} R=${R}`;
        const rows = rowsFor(T, R, T + D);
        const x = randomArray(T * D, T);
        x[rows[0] * D] = Number.NaN;
        const dOut = randomArray(R * D, R);
        dOut[D - 1] = Number.NEGATIVE_INFINITY;
        const xt = gpu.tensor('f32', [T, D], x);
        const rt = gpu.tensor('i32', [R], rows);
        const out = gpu.tensor('f32', [R, D]);
        const dt = gpu.tensor('f32', [R, D], dOut);
        const rec = gpu.recorder();
        gatherRows(rec, xt, rt, out);
        scatterAddRows(rec, dt, rt, xt); // x is now dx += dOut at the selected rows
        rec.submit();
        assertClose(await gpu.read(out), gatherRowsRef(x, rows, T, D), EXACT, `gather ${what}`);
        assertClose(await gpu.read(xt), scatterAddRowsRef(dOut, rows, x, D), ONE_ADD, `scatter-add ${what}`);
        for (const t of [xt, rt, out, dt]) t.release();
      }
    }
  });

  it('rejects mismatched tensors and aliasing with one sentence', () => {
    const { gpu } = gpus[0];
    const rec = gpu.recorder();
    const x = gpu.tensor('f32', [4, 3]);
    const rows = gpu.tensor('i32', [2]);
    expect(() => gatherRows(rec, x, rows, gpu.tensor('f32', [3, 3]))).toThrow(
      /gatherRows: the out tensor must have 6 elements/,
    );
    expect(() => gatherRows(rec, gpu.tensor('f32', [12]), rows, gpu.tensor('f32', [2, 3]))).toThrow(
      /must be \[T, D\]/,
    );
    expect(() => scatterAddRows(rec, x.view([2, 6]), gpu.tensor('i32', [2]), x.view([2, 6]))).toThrow(
      /dx tensor must not share its buffer with dOut/,
    );
    expect(() => scatterAddRows(rec, gpu.tensor('f32', [2, 3]), gpu.tensor('f32', [2]), x)).toThrow(
      /rows tensor must be i32/,
    );
    expect(rec.pending).toBe(0);
  });
});
