import {
  compareClose,
  fromBf16Array,
  fromF16Array,
  type Gpu,
  randomArray,
  type Tensor,
  toBf16Array,
  toF16Array,
} from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { matmulRef } from './matmul.ref.ts';
import { matmul, matmulVariant, recordMatmul } from './matmul.ts';
import type { MatmulOptions } from './matmul-options.ts';
import { maxTilesPerDispatch, tileChunks, tileGrid } from './matmul-options.ts';
import { subgroupMatrixShape } from './matmul-subgroup-matrix.ts';

type BDtype = 'f32' | 'f16' | 'bf16';

/**
 * Tolerances. With f32 accumulation each output is a sum of K products of values in [-1, 1]; rounding
 * errors of the partial sums behave like a random walk, ~sqrt(K) * eps_f32 * |a||b| ~ 1e-7 * sqrt(K),
 * and the summation order differs between kernels and the float64 reference. atol 1e-5 * sqrt(K) leaves
 * a 100x margin; rtol 1e-4 covers large outputs. The subgroup-matrix kernel also rounds A (and f32/bf16 B)
 * to f16 (relative error 2^-11 per operand), so its error is ~2^-11 * sqrt(K) * |a||b|: atol 2e-3 * sqrt(K).
 */
const tolF32 = (K: number) => ({ atol: 1e-5 * Math.sqrt(Math.max(K, 1)), rtol: 1e-4 });
const tolF16 = (K: number) => ({ atol: 2e-3 * Math.sqrt(Math.max(K, 1)), rtol: 2e-3 });

interface Case extends MatmulOptions {
  bDtype: BDtype;
  /** Fill C with NaN before a beta-0 product: the kernel must not read it. */
  nanC?: boolean;
}

let gpus: TestGpu[] = [];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

function families(gpu: Gpu): string[] {
  return ['reg4x4', 'tiled64', 'tiled128', ...(subgroupMatrixShape(gpu) ? ['subgroup-matrix'] : [])];
}

function upload(gpu: Gpu, values: Float32Array, dtype: BDtype): { t: Tensor; decoded: Float32Array } {
  if (dtype === 'f32') return { t: gpu.tensor('f32', [values.length], values), decoded: values };
  const bits = dtype === 'f16' ? toF16Array(values) : toBf16Array(values);
  return {
    t: gpu.tensor(dtype, [values.length], bits),
    decoded: dtype === 'f16' ? fromF16Array(bits) : fromBf16Array(bits),
  };
}

/** Runs every case on one device in one submit and checks each against the reference. */
async function runCases(gpu: Gpu, cases: Case[], seed: number, maxWorkgroupsPerDim = 65535): Promise<void> {
  const rec = gpu.recorder();
  const pending: { c: Case; out: Tensor; expected: Float64Array; variant: string; tensors: Tensor[] }[] = [];
  cases.forEach((c, i) => {
    const a = randomArray(c.M * c.K, seed + 3 * i);
    const b = upload(gpu, randomArray(c.K * c.N, seed + 3 * i + 1), c.bDtype);
    const c0 = c.nanC
      ? new Float32Array(c.M * c.N).fill(Number.NaN)
      : randomArray(c.M * c.N, seed + 3 * i + 2);
    const at = gpu.tensor('f32', [a.length], a);
    const out = gpu.tensor('f32', [c0.length], c0);
    recordMatmul(rec, at, b.t, out, c, maxWorkgroupsPerDim);
    const variant = matmulVariant(gpu, c);
    // The subgroup-matrix path rounds its inputs to f16: compare against exact products of the
    // originals with the f16 tolerance.
    pending.push({ c, out, expected: matmulRef(a, b.decoded, c0, c), variant, tensors: [at, b.t, out] });
  });
  rec.submit();
  for (const { c, out, expected, variant, tensors } of pending) {
    const got = (await gpu.read(out)) as Float32Array;
    const tol = variant.startsWith('subgroup-matrix') ? tolF16(c.K) : tolF32(c.K);
    const what = `${variant} M=${c.M} N=${c.N} K=${c.K} alpha=${c.alpha ?? 1} beta=${c.beta ?? 0}`;
    const r = compareClose(got, expected, tol, what);
    expect(r.ok, r.message).toBe(true);
    for (const t of tensors) t.release();
  }
}

const LAYOUTS = [
  { transA: false, transB: true },
  { transA: false, transB: false },
  { transA: true, transB: true },
  { transA: true, transB: false },
];
// Off-tile sizes (1, 7, 65, 129) and a K below one vector, where nothing is aligned (scalar loads), and
// shapes aligned in every layout (vector loads), one of them whole tiles, one spanning two 128-row tiles.
// Each define combination is a pipeline lavapipe needs a second or more to compile: mixed alignments
// would add pipelines without new code paths.
const SHAPES = [
  { M: 1, N: 65, K: 33 },
  { M: 7, N: 5, K: 3 },
  { M: 65, N: 129, K: 17 },
  { M: 64, N: 64, K: 64 },
  { M: 132, N: 68, K: 40 },
];

describe('matmul on every test device', () => {
  it('matches the reference for every family, layout and off-tile shape (f32 weights)', async () => {
    for (const { gpu } of gpus) {
      const cases: Case[] = [];
      for (const variant of families(gpu))
        for (const layout of LAYOUTS)
          for (const s of SHAPES) cases.push({ ...s, ...layout, variant, bDtype: 'f32' });
      await runCases(gpu, cases, 1);
    }
  });

  it('reads f16 and bf16 weights in every view (native f16, packed f16, bf16)', async () => {
    // reg4x4 reads every view element by element (wload), at odd and aligned shapes; the tiled and
    // subgroup-matrix kernels read runs of four (wload4) where aligned. The tiled families share that
    // code, so tiled128 (the quicker to compile) stands for both: each pipeline costs lavapipe a second.
    for (const { gpu } of gpus) {
      const cases: Case[] = [];
      for (const bDtype of ['f16', 'bf16'] as const)
        for (const layout of LAYOUTS) {
          for (const s of [SHAPES[2], SHAPES[3]]) cases.push({ ...s, ...layout, variant: 'reg4x4', bDtype });
          cases.push({ ...SHAPES[3], ...layout, variant: 'tiled128', bDtype });
          if (subgroupMatrixShape(gpu)) {
            for (const s of [SHAPES[2], SHAPES[3]])
              cases.push({ ...s, ...layout, variant: 'subgroup-matrix', bDtype });
          }
        }
      await runCases(gpu, cases, 100);
    }
  });

  it('applies alpha and beta, and never reads C when beta is 0', async () => {
    for (const { gpu } of gpus) {
      const cases: Case[] = [];
      for (const variant of families(gpu))
        for (const s of [SHAPES[2], SHAPES[3]]) {
          cases.push({ ...s, transB: true, variant, bDtype: 'f32', alpha: 0.5, beta: 1 });
          cases.push({ ...s, transA: true, variant, bDtype: 'f32', alpha: -2, beta: 0, nanC: true });
        }
      cases.push({ ...SHAPES[3], transB: true, variant: 'tiled128', bDtype: 'f16', alpha: 1, beta: 1 });
      await runCases(gpu, cases, 200);
    }
  });

  it('folds grids taller than the per-dimension workgroup limit', async () => {
    for (const { gpu } of gpus) {
      const cases: Case[] = families(gpu).map((variant) => ({
        M: 300,
        N: 9,
        K: 5,
        transB: true,
        variant,
        bDtype: 'f32' as const,
      }));
      await runCases(gpu, cases, 300, 2);
    }
  });

  it('splits products above the per-dispatch flop budget into several dispatches with the same result', async () => {
    for (const { gpu } of gpus) {
      const saved = gpu.maxDispatchFlops;
      // A few output tiles per dispatch: whole tile rows for N = 65, pieces of a row for N = 200.
      gpu.maxDispatchFlops = 2 * 64 * 64 * 40 * 2.5;
      try {
        const cases: Case[] = [];
        for (const variant of families(gpu))
          for (const s of [
            { M: 132, N: 65, K: 40 },
            { M: 70, N: 200, K: 40 },
          ])
            cases.push(
              { ...s, transB: true, variant, bDtype: 'f32' },
              { ...s, transA: true, variant, bDtype: 'f16', beta: 1 },
            );
        await runCases(gpu, cases, 400, 2);
        const rec = gpu.recorder();
        const t = gpu.tensor('f32', [132 * 65]);
        matmul(rec, t, t, t, { M: 132, N: 65, K: 40, transB: true, variant: 'tiled64' });
        expect(rec.pending).toBe(3); // 3 x 2 tiles of 64, at most 2 (2.5) tiles per dispatch: one row each
        t.release();
      } finally {
        gpu.maxDispatchFlops = saved;
      }
    }
  });

  it('chooses the plain kernel on a software adapter and names the weight view', () => {
    for (const { gpu } of gpus) {
      const o = { M: 512, N: 512, K: 512, transB: true };
      if (gpu.caps.isFallbackAdapter) {
        expect(matmulVariant(gpu, { ...o, bDtype: 'f32' })).toBe('reg4x4-f32-nt');
      }
      const f16 = matmulVariant(gpu, { ...o, bDtype: 'f16', precision: 'f32' });
      expect(f16).toMatch(gpu.has('shader-f16') ? /-f16-nt$/ : /-f16-packed-nt$/);
      expect(matmulVariant(gpu, { ...o, bDtype: 'bf16', variant: 'tiled64' })).toBe('tiled64-bf16-packed-nt');
      if (!subgroupMatrixShape(gpu)) {
        expect(() => matmulVariant(gpu, { ...o, bDtype: 'f16', variant: 'subgroup-matrix' })).toThrow(
          /subgroup matrices/,
        );
      }
    }
  });

  it('refuses wrong dtypes and tensors too small for the shape with one sentence', () => {
    const { gpu } = gpus[0];
    const a = gpu.tensor('f32', [6]);
    const b = gpu.tensor('f32', [6]);
    const c = gpu.tensor('f32', [4]);
    const i32 = gpu.tensor('i32', [6]);
    const rec = gpu.recorder();
    expect(() => matmul(rec, a, b, c, { M: 2, N: 2, K: 4 })).toThrow(/A \[M,K\] .* holds 6 elements but 8/);
    expect(() => matmul(rec, i32, b, c, { M: 2, N: 2, K: 3 })).toThrow(/A must be f32, got i32/);
    expect(() => matmul(rec, a, b, c, { M: 2, N: 2, K: 3, variant: 'fast' })).toThrow(
      /Unknown matmul variant/,
    );
    expect(rec.pending).toBe(0);
    for (const t of [a, b, c, i32]) t.release();
  });
});

describe('tileChunks', () => {
  it('covers every tile exactly once, whole rows while a row fits the budget', () => {
    expect(tileChunks(4, 3, 100)).toEqual([{ row0: 0, rows: 3, col0: 0, cols: 4 }]);
    expect(tileChunks(4, 3, 9)).toEqual([
      { row0: 0, rows: 2, col0: 0, cols: 4 },
      { row0: 2, rows: 1, col0: 0, cols: 4 },
    ]);
    expect(tileChunks(5, 2, 2.5)).toEqual([
      { row0: 0, rows: 1, col0: 0, cols: 2 },
      { row0: 0, rows: 1, col0: 2, cols: 2 },
      { row0: 0, rows: 1, col0: 4, cols: 1 },
      { row0: 1, rows: 1, col0: 0, cols: 2 },
      { row0: 1, rows: 1, col0: 2, cols: 2 },
      { row0: 1, rows: 1, col0: 4, cols: 1 },
    ]);
    // Below one tile, still one tile per dispatch; rows wider than the grid limit are cut.
    expect(tileChunks(2, 1, 0.01)).toHaveLength(2);
    expect(tileChunks(5, 1, 100, 3)).toEqual([
      { row0: 0, rows: 1, col0: 0, cols: 3 },
      { row0: 0, rows: 1, col0: 3, cols: 2 },
    ]);
  });
});

describe('matmul dispatches at LLaMA-2-7B shapes', () => {
  it('stay under the default flop budget, cover every tile once, and keep enough tiles to fill a large GPU', async () => {
    const budget = 2 ** 36; // Gpu.maxDispatchFlops' default
    const tokens = 8 * 512;
    const shapes = [
      { M: tokens, N: 4096, K: 4096 }, // q/k/v/o projections
      { M: tokens, N: 11008, K: 4096 }, // gate/up
      { M: tokens, N: 4096, K: 11008 }, // down, and dX of gate/up
      { M: 16, N: 32000, K: 4096 }, // LM head at the selected positions
      { M: 1024, N: 262144, K: 4096 }, // index search: 1024 queries x one 2 GiB f16 shard
    ];
    for (const tile of [32, 64, 128])
      for (const { M, N, K } of shapes) {
        const tilesX = Math.ceil(N / tile);
        const tilesY = Math.ceil(M / tile);
        const chunks = tileChunks(tilesX, tilesY, maxTilesPerDispatch(budget, tile, tile, K), 65535);
        const seen = new Uint8Array(tilesX * tilesY);
        for (const c of chunks) {
          expect(2 * c.rows * c.cols * tile * tile * K, `${tile} ${M}x${N}x${K}`).toBeLessThanOrEqual(budget);
          for (let r = c.row0; r < c.row0 + c.rows; r++)
            for (let x = c.col0; x < c.col0 + c.cols; x++) seen[r * tilesX + x]++;
          if (chunks.length > 1) expect(c.rows * c.cols).toBeGreaterThanOrEqual(Math.min(132, tilesX) / 2);
        }
        expect(seen.every((v) => v === 1)).toBe(true);
      }
  });
});

describe('tileGrid', () => {
  it('keeps small grids 2-D and folds tall ones into z', () => {
    expect(tileGrid(3, 5, 65535, 'x')).toEqual({ workgroups: [3, 5, 1], foldY: 5 });
    const g = tileGrid(2, 70000, 65535, 'x');
    expect(g.workgroups[1]).toBeLessThanOrEqual(65535);
    expect(g.workgroups[1] * g.workgroups[2]).toBeGreaterThanOrEqual(70000);
    expect(g.foldY).toBe(g.workgroups[1]);
    expect(() => tileGrid(70000, 1, 65535, 'wide')).toThrow(/wide: 70000 column tiles/);
  });
});
