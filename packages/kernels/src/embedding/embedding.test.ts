import { assertClose, randomArray, seededRandom } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { centralGradient, dot } from '../elementwise/finite-difference.ts';
import { WEIGHT_DTYPES, weightSample } from '../elementwise/weight-samples.ts';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { embeddingBackwardRef, embeddingRef } from './embedding.ref.ts';
import { embedding, embeddingBackward } from './embedding.ts';

// Tolerances. The gather copies stored values exactly. The backward adds <= ~12 f32 terms of size <= 1
// per element (in token order, then onto the prior value): error <= 12 * 2^-24 * 13 ~ 1e-5 in the worst
// case, far less in practice; atol 1e-5.
const EXACT = { atol: 0, rtol: 0 };
const BWD = { atol: 1e-5, rtol: 0 };

/** Ids mostly in [lo, hi), with out-of-range ones planted (negative, V, the largest i32). */
function idsFor(T: number, lo: number, hi: number, V: number, seed: number): Int32Array {
  const r = seededRandom(seed);
  const ids = Int32Array.from({ length: T }, () => lo + Math.floor(r() * (hi - lo)));
  const bad = [-1, V, 2 ** 31 - 1, -(2 ** 31)];
  for (let k = 0; k < bad.length && 2 * k + 1 < T; k++) ids[2 * k + 1] = bad[k];
  return ids;
}

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

describe('embedding', () => {
  it('gathers rows exactly for every table dtype, zeros for ids outside [0, V)', async () => {
    const shapes: [number, number, number][] = [
      [3, 6, 1],
      [5, 11, 7],
      [9, 3, 65],
      [4, 512, 64],
    ];
    for (const { name, gpu } of gpus) {
      for (const dtype of WEIGHT_DTYPES) {
        for (const [T, V, D] of shapes) {
          const raw = randomArray(V * D, V + D);
          raw[D - 1] = Number.NaN; // must arrive as NaN wherever row 0 is looked up
          const table = weightSample(raw, dtype);
          const ids = idsFor(T, 0, V, V, T);
          ids[0] = 0;
          const tt = gpu.tensor(dtype, [V, D], table.data);
          const idt = gpu.tensor('i32', [T], ids);
          const out = gpu.tensor('f32', [T, D]);
          const rec = gpu.recorder();
          embedding(rec, idt, tt, out);
          rec.submit();
          assertClose(
            await gpu.read(out),
            embeddingRef(ids, table.values, V, D),
            EXACT,
            `${name} ${dtype} ${T}x${V}x${D}`,
          );
          for (const t of [tt, idt, out]) t.release();
        }
      }
    }
  });

  it('gathers from a table split by rows into parts the same rows as from the whole table', async () => {
    const [T, V, D] = [40, 37, 9];
    for (const { name, gpu } of gpus) {
      const raw = randomArray(V * D, 77);
      const ids = idsFor(T, -2, V + 3, V, T); // some ids outside [0, V): zero rows
      const idt = gpu.tensor('i32', [T], ids);
      const out = gpu.tensor('f32', [T, D], new Float32Array(T * D).fill(Number.NaN));
      const rec = gpu.recorder();
      const parts = [0, 16, 32].map((row0) => {
        const rows = Math.min(16, V - row0);
        const t = gpu.tensor('f32', [rows, D], raw.subarray(row0 * D, (row0 + rows) * D));
        embedding(rec, idt, t, out, { row0, keep: row0 > 0 });
        return t;
      });
      rec.submit();
      assertClose(await gpu.read(out), embeddingRef(ids, raw, V, D), EXACT, `${name} split table`);
      for (const t of [idt, out, ...parts]) t.release();
    }
  });

  it('reference backward matches central differences of the forward', () => {
    const [T, V, D, first, R] = [12, 9, 3, 4, 3];
    const ids = idsFor(T, 2, V, V, 5);
    const table = randomArray(V * D, 6);
    const dOut = randomArray(T * D, 7);
    const fd = centralGradient(
      (rows) => {
        const t = Float64Array.from(table);
        t.set(rows, first * D);
        return dot(dOut, embeddingRef(ids, t, V, D));
      },
      table.subarray(first * D, (first + R) * D),
    );
    // Linear in the table, so central differences are exact up to f64 rounding.
    assertClose(
      embeddingBackwardRef(ids, dOut, new Float64Array(R * D), first, D),
      fd,
      { atol: 1e-9, rtol: 0 },
      'fd',
    );
  });

  it('backward adds to each trainable row the gradients of its tokens, deterministically', async () => {
    const cases: [number, number, number, number][] = [
      // [T, R, firstRow, D]
      [40, 4, 3, 7],
      [17, 1, 0, 300],
      [6, 16, 32000, 65],
    ];
    for (const { name, gpu } of gpus) {
      for (const [T, R, first, D] of cases) {
        const ids = idsFor(T, Math.max(0, first - 2), first + R + 2, first + R, T + D);
        const dOut = randomArray(T * D, T);
        dOut[(T - 1) * D] = Number.NaN; // a NaN gradient reaches its row only
        const prior = randomArray(R * D, R);
        const idt = gpu.tensor('i32', [T], ids);
        const dt = gpu.tensor('f32', [T, D], dOut);
        const rows = gpu.tensor('f32', [R, D], prior);
        const rec = gpu.recorder();
        embeddingBackward(rec, idt, dt, rows, first);
        rec.submit();
        const ref = embeddingBackwardRef(ids, dOut, prior, first, D);
        assertClose(await gpu.read(rows), ref, BWD, `${name} T=${T} R=${R} first=${first} D=${D}`);
        for (const t of [idt, dt, rows]) t.release();
      }
    }
  });

  it('rejects mismatched tensors with one sentence', () => {
    const { gpu } = gpus[0];
    const rec = gpu.recorder();
    const ids = gpu.tensor('i32', [3]);
    expect(() => embedding(rec, ids, gpu.tensor('f32', [12]), gpu.tensor('f32', [3, 4]))).toThrow(
      /table tensor must be 2-D/,
    );
    expect(() => embedding(rec, ids, gpu.tensor('f32', [5, 4]), gpu.tensor('f32', [2, 4]))).toThrow(
      /out tensor must have 12/,
    );
    expect(() =>
      embedding(rec, gpu.tensor('f32', [3]), gpu.tensor('f32', [5, 4]), gpu.tensor('f32', [3, 4])),
    ).toThrow(/ids tensor must be i32/);
    expect(() =>
      embeddingBackward(rec, ids, gpu.tensor('f32', [3, 4]), gpu.tensor('f32', [2, 4]), -1),
    ).toThrow(/firstRow -1/);
    expect(rec.pending).toBe(0);
  });
});
