import { f16BitsToF32, QUANT_FORMATS, type QuantFormat, quantRowWords, randomArray } from '@llara/gpu';
import { describe, expect, it } from 'vitest';
import { NF4_LEVELS } from './nf4-levels.ts';
import { quantizeMatrixRef } from './quantize.ref.ts';
import { dequantizeMatrix, quantizeMatrix } from './quantize.ts';

const BLOCK = { q8: 32, q4: 32, nf4: 64 } as const;
/** Half the widest gap between neighbouring NF4 levels (between -1 and -0.696). */
const NF4_HALF_GAP = Math.max(...NF4_LEVELS.slice(1).map((l, i) => l - NF4_LEVELS[i])) / 2;
const SHAPES: [number, number][] = [
  [1, 1],
  [3, 7],
  [5, 65],
  [2, 129],
  [4, 64],
];

/** Values with a different magnitude per row and planted exact ties for the integer formats. */
function sample(rows: number, cols: number, seed: number): Float32Array {
  const v = randomArray(rows * cols, seed);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) v[r * cols + c] *= 10 ** (r % 3) / 3;
  return v;
}

function scaleOf(format: QuantFormat, words: Uint32Array, cols: number, r: number, b: number): number {
  const rw = quantRowWords(format, cols);
  const codeWords = rw - Math.ceil(Math.ceil(cols / BLOCK[format]) / 2);
  return f16BitsToF32((words[r * rw + codeWords + (b >> 1)] >>> ((b & 1) * 16)) & 0xffff);
}

describe('CPU quantizer', () => {
  it('matches the independent plain-loop statement of the format bit for bit', () => {
    for (const format of QUANT_FORMATS) {
      for (const [rows, cols] of SHAPES) {
        const v = sample(rows, cols, rows * 31 + cols);
        const got = quantizeMatrix(format, v, rows, cols);
        expect(got.length).toBe(rows * quantRowWords(format, cols));
        expect(Array.from(got), `${format} ${rows}x${cols}`).toEqual(
          Array.from(quantizeMatrixRef(format, v, rows, cols)),
        );
      }
    }
  });

  it('is deterministic', () => {
    const v = sample(6, 129, 5);
    for (const format of QUANT_FORMATS)
      expect(quantizeMatrix(format, v, 6, 129)).toEqual(quantizeMatrix(format, v, 6, 129));
  });

  it('stays within half a step of the block scale (q8, q4) or half the widest NF4 gap', () => {
    for (const format of QUANT_FORMATS) {
      for (const [rows, cols] of SHAPES) {
        const v = sample(rows, cols, 7 + cols);
        const words = quantizeMatrix(format, v, rows, cols);
        const back = dequantizeMatrix(format, words, rows, cols);
        const halfGap = format === 'nf4' ? NF4_HALF_GAP : 0.5;
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) {
            const s = scaleOf(format, words, cols, r, Math.floor(c / BLOCK[format]));
            const err = Math.abs(back[r * cols + c] - v[r * cols + c]);
            expect(err, `${format} ${rows}x${cols} [${r},${c}]`).toBeLessThanOrEqual(
              halfGap * s * (1 + 1e-6),
            );
          }
        }
      }
    }
  });

  it('encodes known blocks exactly (q4 nibbles low first, q8 bytes little-endian, ties)', () => {
    // q4: absmax 7 -> scale 1 (f16 0x3c00); 3.5 and -3.5 are ties, rounded away from zero.
    const q4 = new Float32Array(32);
    q4.set([7, -7, 3.5, -3.5, 0, 1]);
    expect(Array.from(quantizeMatrix('q4', q4, 1, 32))).toEqual([
      0x88984c1f, 0x88888888, 0x88888888, 0x88888888, 0x3c00,
    ]);
    // q8: absmax 127 -> scale 1; 63.5 -> 64, -0.5 -> -1 (ties away from zero); 33 values: 2 blocks.
    const q8 = new Float32Array(33);
    q8.set([127, -127, 63.5, -0.5]);
    q8[32] = -2;
    const w8 = quantizeMatrix('q8', q8, 1, 33);
    expect(w8.length).toBe(17);
    expect(w8[0]).toBe(0xff40817f);
    expect(w8[8]).toBe(0x81); // -2 / (2/127) = -127, alone in the second block
    expect(w8[16] & 0xffff).toBe(0x3c00);
    expect(f16BitsToF32(w8[16] >>> 16)).toBeCloseTo(2 / 127, 5);
    // nf4: absmax 2; +-2 hit the end levels, a value exactly between levels 7 (0) and 8 goes to 7.
    const nf = new Float32Array(64);
    nf.set([2, -2, 0, NF4_LEVELS[8], NF4_LEVELS[8] * 1.001]);
    const wn = quantizeMatrix('nf4', nf, 1, 64);
    const codes = Array.from({ length: 5 }, (_, i) => (wn[0] >>> (4 * i)) & 15);
    expect(codes).toEqual([15, 0, 7, 7, 8]);
    expect(wn[8]).toBe(0x4000); // f16 2.0
  });

  it('stores zero blocks, padding and f16-underflowing blocks as zero scale and the zero code', () => {
    for (const format of QUANT_FORMATS) {
      const zero = quantizeMatrix(format, new Float32Array(65), 1, 65);
      const back = dequantizeMatrix(format, zero, 1, 65);
      expect(
        back.every((x) => Object.is(x, 0)),
        format,
      ).toBe(true);
      const scaleWords = zero.subarray(zero.length - Math.ceil(Math.ceil(65 / BLOCK[format]) / 2));
      expect(scaleWords.every((w) => w === 0)).toBe(true);
      // A block whose scale rounds to 0 in f16 (absmax 1e-10) decodes to zeros, not NaN.
      const tiny = new Float32Array(65).fill(1e-10);
      expect(dequantizeMatrix(format, quantizeMatrix(format, tiny, 1, 65), 1, 65).every((x) => x === 0)).toBe(
        true,
      );
    }
    expect(zero4Words()).toEqual([0x88888888, 0x88888888, 0x88888888, 0x88888888, 0]);
  });

  it('refuses non-finite weights with a sentence', () => {
    const v = new Float32Array(8);
    v[3] = Number.NaN;
    expect(() => quantizeMatrix('q8', v, 1, 8)).toThrow(/non-finite value NaN \(column 3\)/);
  });
});

function zero4Words(): number[] {
  return Array.from(quantizeMatrix('q4', new Float32Array(5), 1, 5));
}
