import {
  compareClose,
  f16BitsToF32,
  f32ToF16Bits,
  fromBf16Array,
  preprocess,
  QUANT_FORMATS,
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
  SUBGROUP_MATRIX_TILE,
  SUBGROUP_MATRIX_TILES,
  type SubgroupMatrixShape,
  subgroupMatrixCode,
  subgroupMatrixDefines,
  subgroupMatrixRun8,
  subgroupMatrixTileBytes,
  subgroupMatrixTileDefines,
  subgroupMatrixTileName,
  subgroupMatrixTileProblem,
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
  const tile = subgroupMatrixTileName(emu.tile ?? SUBGROUP_MATRIX_TILE);
  const what = `emulated ${emu.shape.M}x${emu.shape.N}x${emu.shape.K} tile ${tile} sg ${emu.subgroupSize ?? emu.maxSubgroupSize} M=${o.M} N=${o.N} K=${o.K} tA=${!!o.transA} tB=${!!o.transB} alpha=${o.alpha ?? 1} beta=${o.beta ?? 0}`;
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

  it('matches the reference with every candidate tile, single- and double-buffered', () => {
    let seed = 1300;
    for (const tile of SUBGROUP_MATRIX_TILES)
      for (const shape of [SHAPES[0], SHAPES[2]])
        for (const layout of LAYOUTS)
          for (const [M, N, K] of [
            [130, 70, 72], // off every tile, K neither a multiple of BK nor even slices
            [tile.BM, 2 * tile.BN, 3 * tile.BK], // whole tiles: the direct-store epilogue, three slices
            [5, 9, 20], // one slice
          ])
            check(
              { M, N, K, ...layout, beta: seed % 2 ? 1 : 0 },
              { shape, maxSubgroupSize: 32, tile },
              3 * seed++,
            );
  });

  it('refuses a tile that does not divide into its subgroups or does not fit the device, saying why', () => {
    const h100 = { maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024 };
    for (const tile of SUBGROUP_MATRIX_TILES)
      for (const shape of SHAPES) expect(subgroupMatrixTileProblem(tile, shape, h100, 32)).toBeNull();
    const big = SUBGROUP_MATRIX_TILES.find((t) => t.BM === 128 && t.BN === 128 && t.double)!;
    expect(subgroupMatrixTileBytes(big, SHAPES[0])).toBe(2 * (128 * 32 + 32 * 128) * 2 + 8 * 16 * 16 * 4);
    const small = { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256 };
    expect(subgroupMatrixTileProblem(big, SHAPES[0], small, 32)).toMatch(
      /needs 40960 bytes of workgroup memory, the device allows 16384/,
    );
    expect(subgroupMatrixTileProblem(SUBGROUP_MATRIX_TILE, SHAPES[0], small, 32)).toBeNull();
    const roomy = { ...small, maxComputeWorkgroupStorageSize: 49152 };
    expect(subgroupMatrixTileProblem({ ...big, double: false, WM: 4, WN: 4 }, SHAPES[0], roomy, 32)).toMatch(
      /needs 512 invocations per workgroup, the device allows 256/,
    );
    expect(subgroupMatrixTileProblem({ ...SUBGROUP_MATRIX_TILE, BM: 48 }, SHAPES[0], h100, 32)).toMatch(
      /does not divide into 2x2 subgroups of 16x16 matrices/,
    );
  });

  it('converts bf16 weights to f16', () => {
    check({ M: 33, N: 40, K: 24, transB: true }, { shape: SHAPES[0], maxSubgroupSize: 32 }, 1100, 'bf16');
  });
});

describe('subgroup-matrix WGSL', () => {
  // Dawn's null backend offers the subgroup-matrix extension without running anything: shader modules
  // are parsed and validated by Tint, so every define combination is at least well-typed WGSL here.
  it('compiles for every matrix shape, layout, weight view (quantized ones included) and candidate tile', async () => {
    const gpu = await requestNodeGpu({ backend: 'null' });
    try {
      if (!gpu.features.has('chromium-experimental-subgroup-matrix') || !gpu.features.has('shader-f16'))
        return;
      const device = gpu.device;
      const failures: string[] = [];
      const compile = async (tile: typeof SUBGROUP_MATRIX_TILE, defines: Record<string, boolean>) => {
        const all = { ...defines, ...subgroupMatrixTileDefines(tile) };
        const module = device.createShaderModule({ code: preprocess(subgroupMatrixCode(tile), all) });
        const info = await module.getCompilationInfo();
        const errors = info.messages.filter((m) => m.type === 'error');
        if (errors.length)
          failures.push(`${subgroupMatrixTileName(tile)} ${JSON.stringify(defines)}: ${errors[0].message}`);
      };
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
              await compile(SUBGROUP_MATRIX_TILE, defines);
            }
      // Quantized weights (B decoded word-wise, never a vector view): every matrix shape and layout.
      for (const shape of SHAPES)
        for (const layout of LAYOUTS)
          for (const view of QUANT_FORMATS)
            await compile(SUBGROUP_MATRIX_TILE, {
              ...weightDefines(view),
              ...subgroupMatrixDefines(shape),
              TRANS_A: layout.transA,
              TRANS_B: layout.transB,
              A_X4: true,
              B_X4: false,
              B_RUN8: subgroupMatrixRun8(view),
            });
      // The other tiles with the weight view and layouts the model uses (f16 weights, vector loads).
      for (const tile of SUBGROUP_MATRIX_TILES.slice(1))
        for (const shape of [SHAPES[0], SHAPES[2]])
          for (const layout of LAYOUTS)
            await compile(tile, {
              ...weightDefines('f16'),
              ...subgroupMatrixDefines(shape),
              TRANS_A: layout.transA,
              TRANS_B: layout.transB,
              A_X4: true,
              B_X4: true,
            });
      expect(failures).toEqual([]);
    } finally {
      gpu.destroy();
    }
  });
});
