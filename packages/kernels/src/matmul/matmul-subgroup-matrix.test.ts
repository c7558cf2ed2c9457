import {
  compareClose,
  f16BitsToF32,
  f32ToF16Bits,
  fromBf16Array,
  preprocess,
  randomArray,
  toBf16Array,
} from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { describe, expect, it } from 'vitest';
import { weightDefines } from '../common/weights.ts';
import { matmulRef } from './matmul.ref.ts';
import type { MatmulOptions } from './matmul-options.ts';
import { emulateMatmulSubgroupMatrix, type SubgroupMatrixEmulation } from './matmul-subgroup-matrix.emu.ts';
import {
  type SubgroupMatrixShape,
  subgroupMatrixCode,
  subgroupMatrixDefines,
} from './matmul-subgroup-matrix.ts';

const round16 = (x: ArrayLike<number>) => Float32Array.from(x, (v) => f16BitsToF32(f32ToF16Bits(v)));

/**
 * The emulation rounds A and B to f16 exactly as the kernel does and accumulates in f32, so against the
 * float64 reference on the f16-rounded inputs only f32 summation error remains: ~sqrt(K) * 6e-8 for
 * values in [-1, 1]; atol 1e-5 * sqrt(K) (100x margin), rtol 1e-4.
 */
const tol = (K: number) => ({ atol: 1e-5 * Math.sqrt(Math.max(K, 1)), rtol: 1e-4 });

const SHAPES: SubgroupMatrixShape[] = [
  { M: 16, N: 16, K: 16 },
  { M: 16, N: 8, K: 16 },
  { M: 16, N: 8, K: 8 },
  { M: 8, N: 8, K: 8 },
];
const LAYOUTS = [
  { transA: false, transB: true },
  { transA: false, transB: false },
  { transA: true, transB: true },
  { transA: true, transB: false },
];

function check(o: MatmulOptions, emu: SubgroupMatrixEmulation, seed: number, b16?: 'bf16'): void {
  const a = randomArray(o.M * o.K, seed);
  let b = randomArray(o.K * o.N, seed + 1);
  if (b16) b = fromBf16Array(toBf16Array(b)); // bf16 weights, converted to f16 by the kernel
  const c = randomArray(o.M * o.N, seed + 2);
  const expected = matmulRef(round16(a), round16(b), c, o);
  emulateMatmulSubgroupMatrix(a, b, c, o, emu);
  const what = `emulated ${emu.shape.M}x${emu.shape.N}x${emu.shape.K} sg ${emu.subgroupSize ?? emu.maxSubgroupSize} M=${o.M} N=${o.N} K=${o.K} tA=${!!o.transA} tB=${!!o.transB} alpha=${o.alpha ?? 1} beta=${o.beta ?? 0}`;
  const r = compareClose(c, expected, tol(o.K), what);
  expect(r.ok, r.message).toBe(true);
}

describe('subgroup-matrix matmul (CPU emulation of its tiling; the kernel runs only on the H100)', () => {
  it('matches the reference for every matrix shape and layout on off-tile sizes', () => {
    let seed = 1;
    for (const shape of SHAPES)
      for (const layout of LAYOUTS)
        for (const [M, N, K] of [
          [1, 7, 5],
          [65, 33, 40],
          [7, 129, 33],
        ])
          check({ M, N, K, ...layout }, { shape, maxSubgroupSize: 32 }, 3 * seed++);
  });

  it('takes the direct-store path on whole tiles, with and without accumulation', () => {
    let seed = 500;
    for (const shape of [SHAPES[0], SHAPES[3]])
      for (const layout of LAYOUTS)
        for (const beta of [0, 1] as const)
          check({ M: 128, N: 64, K: 64, ...layout, beta }, { shape, maxSubgroupSize: 32 }, 3 * seed++);
  });

  it('applies alpha and beta through the scratch epilogue', () => {
    check(
      { M: 64, N: 64, K: 32, transB: true, alpha: 0.25, beta: 1 },
      { shape: SHAPES[0], maxSubgroupSize: 32 },
      900,
    );
    check(
      { M: 70, N: 66, K: 20, transA: true, alpha: -3, beta: 0 },
      { shape: SHAPES[1], maxSubgroupSize: 32 },
      910,
    );
  });

  it('stays correct when the runtime subgroup is smaller than the compiled maximum, on a folded grid', () => {
    const o = { M: 200, N: 72, K: 36, transB: true, beta: 1 as const };
    check(o, { shape: SHAPES[0], maxSubgroupSize: 32, subgroupSize: 16 }, 1000);
    check(o, { shape: SHAPES[2], maxSubgroupSize: 64, subgroupSize: 32, maxWorkgroupsPerDim: 2 }, 1010);
    check(
      { ...o, transA: true, beta: 0 },
      { shape: SHAPES[3], maxSubgroupSize: 32, maxWorkgroupsPerDim: 3 },
      1020,
    );
  });

  it('covers the output when the product is split into several dispatches', () => {
    const o = { M: 150, N: 100, K: 24, transB: true, beta: 1 as const };
    check(o, { shape: SHAPES[0], maxSubgroupSize: 32, maxTilesPerDispatch: 1.5 }, 1200);
    check(o, { shape: SHAPES[3], maxSubgroupSize: 32, maxTilesPerDispatch: 3, maxWorkgroupsPerDim: 2 }, 1210);
  });

  it('converts bf16 weights to f16', () => {
    check({ M: 33, N: 40, K: 24, transB: true }, { shape: SHAPES[0], maxSubgroupSize: 32 }, 1100, 'bf16');
  });
});

describe('subgroup-matrix WGSL', () => {
  // Dawn's null backend offers the subgroup-matrix extension without running anything: shader modules
  // are parsed and validated by Tint, so every define combination is at least well-typed WGSL here.
  it('compiles for every matrix shape, layout and weight view', async () => {
    const gpu = await requestNodeGpu({ backend: 'null' });
    try {
      if (!gpu.features.has('chromium-experimental-subgroup-matrix') || !gpu.features.has('shader-f16'))
        return;
      const device = gpu.device;
      const failures: string[] = [];
      for (const shape of SHAPES)
        for (const layout of LAYOUTS)
          for (const view of ['f32', 'f16', 'f16-packed', 'bf16-packed'] as const)
            for (const x4 of [false, true]) {
              const defines: Record<string, boolean> = {
                ...weightDefines(view),
                ...subgroupMatrixDefines(shape),
                TRANS_A: layout.transA,
                TRANS_B: layout.transB,
                A_X4: x4,
                B_X4: x4,
              };
              if (view === 'f32' && x4) Object.assign(defines, { W_F32: false, W_F32X4: true });
              const module = device.createShaderModule({ code: preprocess(subgroupMatrixCode, defines) });
              const info = await module.getCompilationInfo();
              const errors = info.messages.filter((m) => m.type === 'error');
              if (errors.length) failures.push(`${JSON.stringify(defines)}: ${errors[0].message}`);
            }
      expect(failures).toEqual([]);
    } finally {
      gpu.destroy();
    }
  });
});
