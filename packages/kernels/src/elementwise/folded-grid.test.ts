/**
 * Every kernel of this family with its 1-D grid folded into 2-D after only 3 workgroups per dimension
 * (instead of 65,535), so the folded index math of each WGSL file runs at test sizes. A wrong index
 * reads or writes whole elements out of place, so a loose tolerance suffices: 1e-5 (each kernel's own
 * test states its tight one).
 */
import { assertClose, randomArray } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { embeddingBackwardRef, embeddingRef } from '../embedding/embedding.ref.ts';
import { embedding, embeddingBackward } from '../embedding/embedding.ts';
import { rmsnormBackwardRef, rmsnormRef } from '../rmsnorm/rmsnorm.ref.ts';
import { rmsnorm, rmsnormBackward } from '../rmsnorm/rmsnorm.ts';
import { ropeRef } from '../rope/rope.ref.ts';
import { rope, ropeBackward } from '../rope/rope.ts';
import { gatherRowsRef, scatterAddRowsRef } from '../rows/rows.ref.ts';
import { gatherRows, scatterAddRows } from '../rows/rows.ts';
import { swigluBackwardRef, swigluRef } from '../swiglu/swiglu.ref.ts';
import { swiglu, swigluBackward } from '../swiglu/swiglu.ts';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { addRef, axpyRef, scaleRef } from './elementwise.ref.ts';
import { add, axpy, castToF32, fill, scale } from './elementwise.ts';

const MAX_PER_DIM = 3;
const grids: [number, number][] = [];
vi.mock('@llara/gpu', async (importOriginal) => {
  const gpu = await importOriginal<typeof import('@llara/gpu')>();
  return {
    ...gpu,
    grid1d: (count: number, perGroup: number) => {
      const g = gpu.grid1d(count, perGroup, MAX_PER_DIM);
      grids.push(g);
      return g;
    },
  };
});

const TOL = { atol: 1e-5, rtol: 1e-5 };

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

describe('folded 2-D grids', () => {
  it('give the same results as the reference in every kernel', async () => {
    for (const { name, gpu } of gpus) {
      grids.length = 0;
      const rec = gpu.recorder();
      const f32 = (shape: number[], data?: Float32Array) => gpu.tensor('f32', shape, data);

      const n = 10 * 256 + 5;
      const a = randomArray(n, 1);
      const b = randomArray(n, 2);
      const [at, bt, sum, filled, halfT, cast] = [
        f32([n], a),
        f32([n], b),
        f32([n]),
        f32([n]),
        f32([n], a),
        f32([n]),
      ];
      add(rec, at, bt, sum);
      axpy(rec, 0.5, at, bt);
      scale(rec, at, -2);
      fill(rec, filled, 7);
      castToF32(rec, halfT, cast);

      const [T, H, hd] = [9, 4, 64];
      const q = randomArray(T * H * hd, 3);
      const positions = Int32Array.from({ length: T }, (_, i) => i * 37);
      const qt = f32([T, H * hd], q);
      const pt = gpu.tensor('i32', [T], positions);
      const qb = f32([T, H * hd], q);
      const ropeO = { numHeads: H, headDim: hd, theta: 10000 };
      rope(rec, qt, pt, ropeO);
      ropeBackward(rec, qb, pt, ropeO);

      const gate = randomArray(2600, 4, -4, 4);
      const up = randomArray(2600, 5);
      const [gt, ut, act, dg, du] = [
        f32([2600], gate),
        f32([2600], up),
        f32([2600]),
        f32([2600]),
        f32([2600]),
      ];
      swiglu(rec, gt, ut, act);
      swigluBackward(rec, gt, ut, ut, dg, du);

      const [V, D, R, first] = [13, 300, 5, 6];
      const ids = Int32Array.from({ length: T }, (_, i) => (i * 5) % (V + 1)); // includes V: a zero row
      const table = randomArray(V * D, 6);
      const dOut = randomArray(T * D, 7);
      const prior = randomArray(R * D, 8);
      const idt = gpu.tensor('i32', [T], ids);
      const [tt, emb, dOutT, dRows] = [
        f32([V, D], table),
        f32([T, D]),
        f32([T, D], dOut),
        f32([R, D], prior),
      ];
      embedding(rec, idt, tt, emb);
      embeddingBackward(rec, idt, dOutT, dRows, first);

      const [TR, DR] = [20, 129];
      const rows = Int32Array.from([19, 0, 7, 3, 12, 5, 1, 18, 9]);
      const x = randomArray(TR * DR, 9);
      const [xt, rt, picked, dx] = [
        f32([TR, DR], x),
        gpu.tensor('i32', [rows.length], rows),
        f32([rows.length, DR]),
        f32([TR, DR], x),
      ];
      gatherRows(rec, xt, rt, picked);
      scatterAddRows(rec, picked, rt, dx);

      const [TN, DN] = [10, 33];
      const xn = randomArray(TN * DN, 10);
      const wn = randomArray(DN, 11, 0.5, 1.5);
      const [xnt, wnt, yn, dxn] = [f32([TN, DN], xn), f32([DN], wn), f32([TN, DN]), f32([TN, DN])];
      rmsnorm(rec, xnt, wnt, yn, 1e-6);
      rmsnormBackward(rec, xnt, wnt, xnt, dxn, 1e-6);
      rec.submit();

      // Every dispatch above really folded, into a grid that is not square (where swapping x and y
      // in the index would go unnoticed).
      expect(grids.length).toBe(15);
      expect(
        grids.every(([x, y]) => x === MAX_PER_DIM && y > 1 && y !== x),
        JSON.stringify(grids),
      ).toBe(true);
      const check = async (t: typeof at, ref: ArrayLike<number>, what: string) =>
        assertClose(await gpu.read(t), ref, TOL, `${what} (${name}, folded)`);
      await check(sum, addRef(a, b), 'add');
      await check(bt, axpyRef(0.5, a, b), 'axpy');
      await check(at, scaleRef(a, -2), 'scale');
      await check(filled, new Float64Array(n).fill(7), 'fill');
      await check(cast, a, 'castToF32');
      await check(qt, ropeRef(q, positions, ropeO), 'rope');
      await check(qb, ropeRef(q, positions, ropeO, true), 'ropeBackward');
      await check(act, swigluRef(gate, up), 'swiglu');
      const sw = swigluBackwardRef(gate, up, up);
      await check(dg, sw.dGate, 'swigluBackward dGate');
      await check(du, sw.dUp, 'swigluBackward dUp');
      await check(emb, embeddingRef(ids, table, V, D), 'embedding');
      await check(dRows, embeddingBackwardRef(ids, dOut, prior, first, D), 'embeddingBackward');
      const g = gatherRowsRef(x, rows, TR, DR);
      await check(picked, g, 'gatherRows');
      await check(dx, scatterAddRowsRef(g, rows, x, DR), 'scatterAddRows');
      await check(yn, rmsnormRef(xn, wn, TN, DN, 1e-6), 'rmsnorm');
      await check(dxn, rmsnormBackwardRef(xn, wn, xn, TN, DN, 1e-6), 'rmsnormBackward');
    }
  });
});
