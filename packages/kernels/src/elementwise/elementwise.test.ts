import { assertClose, type DType, randomArray, toBf16Array, toF16Array } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { addRef, axpyRef, castToF32Ref, fillRef, scaleRef } from './elementwise.ref.ts';
import { add, axpy, castToF32, copyTensor, fill, scale } from './elementwise.ts';

// Tolerances. a + b and alpha * x of f32 inputs are single correctly rounded f32 operations: within
// 2^-24 relative of the exact (f64) result, so rtol 1.2e-7. axpy rounds alpha * x before adding (unless
// the compiler fuses them), which adds up to 2^-24 * |alpha * x| <= 2^-24 * 2 here: atol 2.4e-7.
// fill, copy and cast are exact.
const ONE_OP = { atol: 0, rtol: 1.2e-7 };
const AXPY = { atol: 2.4e-7, rtol: 1.2e-7 };
const EXACT = { atol: 0, rtol: 0 };
const SIZES = [1, 7, 65, 129, 4097];

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

/** Random values with NaN, +-Inf and -0 planted, which every op must pass through. */
function values(n: number, seed: number): Float32Array {
  const v = randomArray(n, seed);
  const special = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0];
  for (let k = 0; k < special.length && 3 * k + 1 < n; k++) v[3 * k + 1 + (seed % 2)] = special[k];
  return v;
}

describe('elementwise ops', () => {
  it('add, in every aliasing form, matches the reference', async () => {
    for (const { name, gpu } of gpus) {
      for (const n of SIZES) {
        const a = values(n, n);
        const b = values(n, n + 1);
        const at = gpu.tensor('f32', [n], a);
        const bt = gpu.tensor('f32', [n], b);
        const out = gpu.tensor('f32', [n]);
        const rec = gpu.recorder();
        add(rec, at, bt, out);
        rec.submit();
        assertClose(await gpu.read(out), addRef(a, b), ONE_OP, `add ${name} n=${n}`);
        add(rec, at, bt, at); // a += b
        add(rec, at, bt, bt); // b = (a + b) + b
        rec.submit();
        const a1 = addRef(a, b);
        assertClose(await gpu.read(at), a1, ONE_OP, `add into a ${name} n=${n}`);
        assertClose(
          await gpu.read(bt),
          addRef(Float32Array.from(a1), b),
          ONE_OP,
          `add into b ${name} n=${n}`,
        );
        for (const t of [at, bt, out]) t.release();
      }
    }
  });

  it('doubles when all three operands are one tensor', async () => {
    const x = values(33, 3);
    for (const { name, gpu } of gpus) {
      const t = gpu.tensor('f32', [33], x);
      const rec = gpu.recorder();
      add(rec, t, t, t);
      rec.submit();
      assertClose(await gpu.read(t), addRef(x, x), ONE_OP, `x + x ${name}`);
    }
  });

  it('axpy, scale and fill match the reference', async () => {
    for (const { name, gpu } of gpus) {
      for (const n of SIZES) {
        const x = values(n, 10 * n);
        const y = values(n, 10 * n + 1);
        const xt = gpu.tensor('f32', [n], x);
        const yt = gpu.tensor('f32', [n], y);
        const ft = gpu.tensor('f32', [n]);
        const rec = gpu.recorder();
        axpy(rec, -1.75, xt, yt);
        scale(rec, xt, 0.3);
        fill(rec, ft, -2.5);
        rec.submit();
        assertClose(await gpu.read(yt), axpyRef(-1.75, x, y), AXPY, `axpy ${name} n=${n}`);
        assertClose(await gpu.read(xt), scaleRef(x, 0.3), ONE_OP, `scale ${name} n=${n}`);
        assertClose(await gpu.read(ft), fillRef(n, -2.5), EXACT, `fill ${name} n=${n}`);
        fill(rec, ft, Number.NaN);
        rec.submit();
        assertClose(await gpu.read(ft), fillRef(n, Number.NaN), EXACT, `fill NaN ${name} n=${n}`);
        for (const t of [xt, yt, ft]) t.release();
      }
    }
  });

  it('copies any dtype byte for byte', async () => {
    for (const { name, gpu } of gpus) {
      const cases: [DType, ArrayBufferView & ArrayLike<number>][] = [
        ['f32', values(65, 1)],
        ['f16', toF16Array(values(7, 2))],
        ['i32', Int32Array.from({ length: 9 }, (_, i) => i * 7919 - 30)],
      ];
      for (const [dtype, data] of cases) {
        const src = gpu.tensor(dtype, [data.length], data);
        const dst = gpu.tensor(dtype, [data.length]);
        const rec = gpu.recorder();
        copyTensor(rec, src, dst);
        rec.submit();
        expect(Array.from(await gpu.read(dst)), `${name} ${dtype}`).toEqual(Array.from(data));
      }
    }
  });

  it('casts f16 and bf16 weights to f32 exactly (Inf, NaN and f16 subnormals included)', async () => {
    for (const { name, gpu } of gpus) {
      for (const n of [1, 7, 130]) {
        const v = values(n, 5 * n);
        if (n > 5) v[5] = 3e-6; // an f16 subnormal
        const cases: [DType, Float32Array | Uint16Array][] = [
          ['f32', v],
          ['f16', toF16Array(v)],
          ['bf16', toBf16Array(v)],
        ];
        for (const [dtype, data] of cases) {
          const src = gpu.tensor(dtype, [n], data);
          const dst = gpu.tensor('f32', [n]);
          const rec = gpu.recorder();
          castToF32(rec, src, dst);
          rec.submit();
          assertClose(await gpu.read(dst), castToF32Ref(data, dtype), EXACT, `cast ${name} ${dtype} n=${n}`);
        }
      }
    }
  });

  it('rejects mismatched sizes, dtypes and aliasing with one sentence', () => {
    const { gpu } = gpus[0];
    const rec = gpu.recorder();
    const a = gpu.tensor('f32', [4]);
    expect(() => add(rec, a, gpu.tensor('f32', [5]), a)).toThrow(/add: the b tensor must have 4 elements/);
    expect(() => axpy(rec, 1, a, a)).toThrow(/axpy: the y tensor must not share its buffer with x/);
    expect(() => scale(rec, gpu.tensor('i32', [4]), 2)).toThrow(/scale: the x tensor must be f32/);
    expect(() => copyTensor(rec, a, gpu.tensor('f16', [4]))).toThrow(
      /copyTensor: the dst tensor must be f32/,
    );
    expect(() => castToF32(rec, gpu.tensor('i8', [4]), a)).toThrow(/src tensor must be f32 or f16 or bf16/);
    expect(rec.pending).toBe(0);
  });
});
