import { f16BitsToF32, f32ToF16Bits, randomArray, toF16Array } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { absMaxRef, pow2ScaleRef } from '../pow2-scale/pow2-scale.ref.ts';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { matmulRef } from './matmul.ref.ts';
import { matmul } from './matmul.ts';
import type { MatmulOptions } from './matmul-options.ts';
import { matmulScaledA } from './matmul-scaled.ts';
import { emulateMatmulSubgroupMatrix } from './matmul-subgroup-matrix.emu.ts';

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

/** Gradient-sized values (|x| <= 3e-7): most of them are f16 subnormals or zero. */
const gradients = (n: number, seed: number) => Float32Array.from(randomArray(n, seed), (v) => v * 3e-7);

describe('matmul with A rescaled by a power of two', () => {
  it('equals matmul bit for bit on the f32 kernels (the rescaling is exact)', async () => {
    const layouts: (Omit<MatmulOptions, 'M' | 'N' | 'K'> & { what: string })[] = [
      { what: 'dX = dY W', transB: false },
      { what: 'y = x W^T, accumulate, alpha 0.5', transB: true, beta: 1, alpha: 0.5 },
    ];
    for (const { name, gpu } of gpus)
      for (const { what, ...layout } of layouts)
        for (const wDtype of ['f32', 'f16'] as const) {
          const o = { M: 37, N: 70, K: 45, ...layout };
          const a = gpu.tensor('f32', [o.M * o.K], gradients(o.M * o.K, 1));
          const w = randomArray(o.N * o.K, 2);
          const b =
            wDtype === 'f16'
              ? gpu.tensor('f16', [w.length], toF16Array(w))
              : gpu.tensor('f32', [w.length], w);
          const c0 = randomArray(o.M * o.N, 3);
          const plain = gpu.tensor('f32', [o.M, o.N], c0);
          const scaled = gpu.tensor('f32', [o.M, o.N], c0);
          const rec = gpu.recorder();
          matmul(rec, a, b, plain, { ...o, precision: 'f32' });
          matmulScaledA(rec, a, b, scaled, { ...o, alwaysScale: true });
          rec.submit();
          const label = `${name} ${what} ${wDtype}`;
          expect((await gpu.read(scaled)) as Float32Array, label).toEqual(
            (await gpu.read(plain)) as Float32Array,
          );
          for (const t of [a, b, plain, scaled]) t.release();
        }
  });

  it('keeps gradients that f16 tensor cores would flush (CPU emulation of the subgroup-matrix kernel)', () => {
    const o = { M: 64, N: 96, K: 128 };
    const a = gradients(o.M * o.K, 4);
    const b = Float32Array.from(toF16Array(randomArray(o.K * o.N, 5)), f16BitsToF32);
    const exact = matmulRef(a, b, null, o);
    let scale = 0;
    for (const v of exact) scale = Math.max(scale, Math.abs(v));
    const relError = (got: Float32Array) => {
      let e = 0;
      for (let i = 0; i < got.length; i++) e = Math.max(e, Math.abs(got[i] - exact[i]));
      return e / scale;
    };
    const emu = { shape: { M: 16, N: 16, K: 16 }, maxSubgroupSize: 32 };
    const direct = new Float32Array(o.M * o.N);
    emulateMatmulSubgroupMatrix(a, b, direct, o, emu);
    // What matmulScaledA records, step by step: A / s (exact), the kernel, then * s (exact).
    const s = pow2ScaleRef(absMaxRef(a));
    const viaScale = new Float32Array(o.M * o.N);
    emulateMatmulSubgroupMatrix(
      Float32Array.from(a, (v) => v / s),
      b,
      viaScale,
      o,
      emu,
    );
    for (let i = 0; i < viaScale.length; i++) viaScale[i] *= s;
    // f16 keeps ~11 bits of A / s; of 3e-7 itself only a few subnormal bits survive.
    expect(relError(viaScale)).toBeLessThan(2e-3);
    expect(relError(direct)).toBeGreaterThan(2e-2);
    expect(f16BitsToF32(f32ToF16Bits(1e-8))).toBe(0); // why: below half the smallest f16 subnormal
  });

  it('refuses a C that is not exactly M x N', () => {
    const { gpu } = gpus[0];
    const a = gpu.tensor('f32', [6]);
    const b = gpu.tensor('f32', [6]);
    const c = gpu.tensor('f32', [5]);
    const rec = gpu.recorder();
    expect(() => matmulScaledA(rec, a, b, c, { M: 2, N: 2, K: 3, alwaysScale: true })).toThrow(
      /C must hold exactly M x N = 4 values/,
    );
    for (const t of [a, b, c]) t.release();
  });
});
