/**
 * The subgroup-matrix matmul on block-quantized weights (q8, q4, nf4), through its CPU emulation (no
 * device here has subgroup matrices): the word-wise decode into workgroup memory (code word, nibble and
 * scale offsets, slice bounds, tile edges) for the forward y = x W^T and the input gradient dX = dY W,
 * against the float64 reference applied to the f16-rounded dequantized weights. Also: `matmul` picks
 * the kernel for quantized weights on a device that has f16 -> f32 subgroup matrices.
 */
import {
  compareClose,
  f16BitsToF32,
  f32ToF16Bits,
  type Gpu,
  QUANT_FORMATS,
  type QuantFormat,
  randomArray,
} from '@llara/gpu';
import { describe, expect, it } from 'vitest';
import { quantLoad4RC, quantLoad8RC } from '../common/weights.emu.ts';
import { dequantizeMatrix, quantizeMatrix } from '../quant/quantize.ts';
import { matmulRef } from './matmul.ref.ts';
import { matmulVariant } from './matmul.ts';
import type { MatmulOptions } from './matmul-options.ts';
import { emulateMatmulSubgroupMatrix, type SubgroupMatrixEmulation } from './matmul-subgroup-matrix.emu.ts';
import { SUBGROUP_MATRIX_TILES, type SubgroupMatrixShape } from './matmul-subgroup-matrix.ts';

const round16 = (x: ArrayLike<number>) => Float32Array.from(x, (v) => f16BitsToF32(f32ToF16Bits(v)));
// As the f16 subgroup-matrix tests: A and the decoded B rounded to f16 exactly as the kernel does, so
// only f32 summation error remains.
const tol = (K: number) => ({ atol: 1e-5 * Math.sqrt(Math.max(K, 1)), rtol: 1e-4 });

const SM16: SubgroupMatrixShape = { M: 16, N: 16, K: 16 };
const SM8: SubgroupMatrixShape = { M: 8, N: 8, K: 8 };

/**
 * Emulates the products LoRA training needs through a frozen quantized W [out, in]: y = x W^T
 * (B stored [N, K]) and dX = dY W (B stored [K, N]), plus the transA layouts of each, and compares
 * each with the reference on the dequantized weights.
 */
function check(
  format: QuantFormat,
  [T, out, inDim]: [number, number, number],
  emu: SubgroupMatrixEmulation,
  seed: number,
  extra: Partial<MatmulOptions> = {},
  transA = [false],
): void {
  const words = quantizeMatrix(format, randomArray(out * inDim, seed), out, inDim);
  const values = round16(dequantizeMatrix(format, words, out, inDim));
  for (const tA of transA)
    for (const o of [
      { M: T, N: out, K: inDim, transB: true },
      { M: T, N: inDim, K: out, transB: false },
    ] as MatmulOptions[]) {
      const opts = { ...o, ...extra, transA: tA };
      const a = randomArray(opts.M * opts.K, seed + 1);
      const c = randomArray(opts.M * opts.N, seed + 2);
      const expected = matmulRef(round16(a), values, c, opts);
      emulateMatmulSubgroupMatrix(a, { format, words }, c, opts, emu);
      const what = `emulated ${format} ${emu.shape.M}x${emu.shape.N}x${emu.shape.K} M=${opts.M} N=${opts.N} K=${opts.K} tA=${tA} tB=${opts.transB} beta=${opts.beta ?? 0}`;
      const r = compareClose(c, expected, tol(opts.K), what);
      expect(r.ok, r.message).toBe(true);
    }
}

describe('subgroup-matrix matmul on quantized weights (CPU emulation)', () => {
  it('decodes every aligned run of 4 (and of 8 for 4-bit codes) word-wise to the dequantized values, zero past the row', () => {
    for (const format of QUANT_FORMATS) {
      const [rows, cols] = [3, 70]; // two blocks of 32 and a part, one nf4 block and a part
      const b = { format, words: quantizeMatrix(format, randomArray(rows * cols, 5), rows, cols) };
      const values = dequantizeMatrix(format, b.words, rows, cols);
      const want = (r: number, c: number, n: number) =>
        Array.from({ length: n }, (_, j) => (c + j < cols ? values[r * cols + c + j] : 0));
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c += 4) {
          expect(quantLoad4RC(b, r, c, cols), `${format} (${r}, ${c})`).toEqual(want(r, c, 4));
          if (format !== 'q8' && c % 8 === 0)
            expect(quantLoad8RC(b, r, c, cols), `${format} (${r}, ${c}..+8)`).toEqual(want(r, c, 8));
        }
      expect(() => quantLoad4RC(b, 0, 2, cols)).toThrow(/not a multiple of 4/);
      expect(() => quantLoad8RC(b, 0, format === 'q8' ? 8 : 4, cols)).toThrow(
        format === 'q8' ? /q8 has 4/ : /not a multiple of 8/,
      );
    }
  });

  it('y = x W^T and dX = dY W match the reference on the odd shapes of matmul-quant.test.ts', () => {
    let seed = 1;
    for (const format of QUANT_FORMATS)
      for (const shape of [SM16, SM8])
        for (const s of [
          [1, 7, 65],
          [7, 129, 1],
          [65, 1, 129],
          [129, 65, 7],
        ] as [number, number, number][])
          check(format, s, { shape, maxSubgroupSize: 32 }, 10 * seed++);
  });

  it('matches across slices and tiles, in every layout, with accumulation and alpha', () => {
    let seed = 100;
    for (const format of QUANT_FORMATS) {
      // K = 200 / 130: several BK = 32 slices, the last partial, blocks of 32 and 64 cut by slices.
      check(format, [70, 130, 200], { shape: SM16, maxSubgroupSize: 32 }, 10 * seed++, { beta: 1 }, [
        false,
        true,
      ]);
      // Whole tiles: the direct-store epilogue.
      check(format, [64, 128, 192], { shape: SM16, maxSubgroupSize: 32 }, 10 * seed++, { beta: 1 });
      check(format, [33, 40, 72], { shape: { M: 16, N: 8, K: 8 }, maxSubgroupSize: 32 }, 10 * seed++, {
        alpha: 0.5,
      });
    }
  });

  it('matches with the double-buffered and larger candidate tiles, a small runtime subgroup, a folded grid', () => {
    let seed = 200;
    for (const tile of SUBGROUP_MATRIX_TILES.slice(1))
      for (const format of QUANT_FORMATS)
        check(format, [130, 70, 72], { shape: SM16, maxSubgroupSize: 32, tile }, 10 * seed++);
    check(
      'q4',
      [200, 72, 36],
      { shape: SM16, maxSubgroupSize: 64, subgroupSize: 32, maxWorkgroupsPerDim: 2 },
      7,
    );
  });
});

/** A device with f16 -> f32 16x16x16 subgroup matrices, as far as kernel selection looks. */
function tensorCoreDevice(): Gpu {
  return {
    has: (f: string) => f === 'subgroup-matrix' || f === 'shader-f16' || f === 'subgroups',
    caps: {
      isFallbackAdapter: false,
      subgroupSizes: { min: 32, max: 32 },
      subgroupMatrixConfigs: [{ componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 }],
    },
    limits: { maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024 },
  } as unknown as Gpu;
}

describe('matmul kernel choice for quantized weights', () => {
  it('takes tensor cores where the device has them, unless f32 precision is asked for or a side is under 16', () => {
    const gpu = tensorCoreDevice();
    for (const bDtype of QUANT_FORMATS) {
      const o = { M: 2048, N: 4096, K: 4096, transB: true, bDtype };
      expect(matmulVariant(gpu, o)).toBe(`subgroup-matrix-16x16x16-${bDtype}-nt`);
      expect(matmulVariant(gpu, { ...o, M: 64, N: 96, transB: false })).toBe(
        `subgroup-matrix-16x16x16-${bDtype}-nn`,
      );
      expect(matmulVariant(gpu, { ...o, precision: 'f32' })).toBe(`tiled128-${bDtype}-nt`);
      // A few tokens: the forward goes to gemv (matmul-gemv.test.ts), the input gradient to reg4x4.
      expect(matmulVariant(gpu, { ...o, M: 8 })).toBe(`gemv-subgroups-${bDtype}-nt`);
      expect(matmulVariant(gpu, { ...o, M: 8, transB: false })).toBe(`reg4x4-${bDtype}-nn`);
    }
  });
});
