import { randomArray } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { dropoutHash, dropoutRef } from './dropout.ref.ts';
import { type DropoutOptions, dropout } from './dropout.ts';

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

async function runGpu(t: TestGpu, x: Float32Array, o: DropoutOptions): Promise<Float32Array> {
  const { gpu } = t;
  const xt = gpu.tensor('f32', [x.length], x);
  const yt = gpu.tensor('f32', [x.length]);
  const rec = gpu.recorder();
  dropout(rec, xt, yt, o);
  rec.submit();
  const y = (await gpu.read(yt)) as Float32Array;
  xt.release();
  yt.release();
  return y;
}

describe('dropout', { timeout: 60_000 }, () => {
  it('matches the TS reference bit for bit', async () => {
    const x = randomArray(10007, 1, -2, 2);
    for (const o of [
      { p: 0.1, seed: 42 },
      { p: 0.5, seed: 7, offset: 123456 },
      { p: 0.9, seed: 0xfffffff0, offset: 0xffffff00 }, // the counter wraps around 2^32
    ]) {
      const ref = dropoutRef(x, o);
      for (const t of gpus)
        expect(Array.from(await runGpu(t, x, o)), `${t.name} p=${o.p}`).toEqual(Array.from(ref));
    }
  });

  it('keeps a fraction 1 - p of the elements, scaled by 1 / (1 - p)', async () => {
    const n = 200_000;
    const x = new Float32Array(n).fill(1);
    for (const p of [0.1, 0.3]) {
      const scale = Math.fround(1 / (1 - p));
      for (const t of gpus) {
        const y = await runGpu(t, x, { p, seed: 99 });
        let kept = 0;
        let wrongScale = 0;
        for (const v of y) {
          if (v !== 0) kept++;
          if (v !== 0 && v !== scale) wrongScale++;
        }
        expect(wrongScale).toBe(0);
        // 5 standard deviations of a binomial keep count.
        const sigma = Math.sqrt((p * (1 - p)) / n);
        expect(Math.abs(kept / n - (1 - p)), `${t.name} p=${p}`).toBeLessThan(5 * sigma);
      }
    }
  });

  it('draws independent masks for different seeds and offsets', () => {
    const n = 100_000;
    let sameSeed = 0;
    let sameOffset = 0;
    for (let i = 0; i < n; i++) {
      const a = dropoutHash(1, i) >= 2 ** 31;
      if (a === dropoutHash(2, i) >= 2 ** 31) sameSeed++;
      if (a === dropoutHash(1, i + n) >= 2 ** 31) sameOffset++;
    }
    // Independent p = 0.5 masks agree on half the elements.
    for (const same of [sameSeed, sameOffset]) expect(Math.abs(same / n - 0.5)).toBeLessThan(0.01);
  });

  it('is a plain copy at p = 0 and all zeros at p = 1', async () => {
    const x = randomArray(1000, 2);
    x[3] = Number.NaN;
    x[4] = -0;
    for (const t of gpus) {
      const y = await runGpu(t, x, { p: 0, seed: 5 });
      expect(new Uint32Array(y.buffer)).toEqual(new Uint32Array(x.buffer));
      expect(Array.from(await runGpu(t, x, { p: 1, seed: 5 }))).toEqual(new Array(1000).fill(0));
    }
  });

  it('drops the same elements in backward as in forward (same seed and offset)', async () => {
    const n = 5000;
    const x = randomArray(n, 3, 0.5, 1.5);
    const dy = randomArray(n, 4, 0.5, 1.5);
    const o = { p: 0.25, seed: 1234, offset: 777 };
    for (const t of gpus) {
      const y = await runGpu(t, x, o);
      const dx = await runGpu(t, dy, o);
      const scale = Math.fround(1 / 0.75);
      const bad: number[] = [];
      for (let i = 0; i < n; i++) {
        const expected = y[i] !== 0 ? Math.fround(dy[i] * scale) : 0;
        if (dx[i] !== expected) bad.push(i);
      }
      expect(bad, `${t.name}: elements whose backward mask differs`).toEqual([]);
    }
  });

  it('rejects a bad p and aliased tensors with one clear sentence', () => {
    const { gpu } = gpus[0];
    const x = gpu.tensor('f32', [8]);
    const rec = gpu.recorder();
    expect(() => dropout(rec, x, x, { p: 1.5, seed: 1 })).toThrow('dropout: p must be in [0, 1], got 1.5.');
    expect(() => dropout(rec, x, x, { p: 0.5, seed: 1 })).toThrow(/different tensors/);
    x.release();
  });
});
