/**
 * CPU block quantizer and dequantizer of the q8, q4 and nf4 weight formats, row by row, deterministic
 * (docs/quantization.md is the specification; quant-layout.ts in @llara/gpu the word layout). The GPU
 * kernels only dequantize: every quantized weight is made here, while a checkpoint streams in.
 *
 * ```ts
 * const words = quantizeMatrix('q4', weights, 11008, 4096);       // Uint32Array, 11008 rows of 576 words
 * const back = dequantizeMatrix('q4', words, 11008, 4096);        // Float32Array, what the kernels read
 * ```
 */
import {
  f16BitsToF32,
  f32ToF16Bits,
  QUANT_BITS,
  QUANT_BLOCK,
  type QuantFormat,
  quantBlocks,
  quantCodeWords,
  quantRowWords,
} from '@llara/gpu';
import { NF4_LEVELS, NF4_ZERO_CODE } from './nf4-levels.ts';

/** Largest code magnitude of the symmetric integer formats. */
const QMAX = { q8: 127, q4: 7 } as const;

/** Decision thresholds between neighbouring NF4 levels (exact in f64: sums of two f32 halved). */
const NF4_MIDPOINTS = NF4_LEVELS.slice(1).map((l, i) => (NF4_LEVELS[i] + l) / 2);

/** Round half away from zero (C's `roundf`), so ties never depend on the parity of the integer. */
function roundHalfAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/**
 * Quantizes one row of `cols` values (`src[srcOffset ..]`) into `quantRowWords(format, cols)` words
 * at `dst[dstOffset ..]`, which must be zero (fresh) on entry.
 */
export function quantizeRow(
  format: QuantFormat,
  src: ArrayLike<number>,
  srcOffset: number,
  cols: number,
  dst: Uint32Array,
  dstOffset: number,
): void {
  const bs = QUANT_BLOCK[format];
  const bits = QUANT_BITS[format];
  const perWord = 32 / bits;
  const blocks = quantBlocks(format, cols);
  const scale0 = dstOffset + quantCodeWords(format, cols);
  for (let b = 0; b < blocks; b++) {
    const start = b * bs;
    const end = Math.min(cols, start + bs);
    let amax = 0;
    for (let c = start; c < end; c++) {
      const x = src[srcOffset + c];
      if (!Number.isFinite(x)) throw new Error(`cannot quantize the non-finite value ${x} (column ${c})`);
      amax = Math.max(amax, Math.abs(x));
    }
    // The scale is rounded to f16 first and the codes are computed against the rounded scale.
    const scaleBits = format === 'nf4' ? f32ToF16Bits(amax) : f32ToF16Bits(amax / QMAX[format]);
    const scale = f16BitsToF32(scaleBits);
    if (scale !== 0) dst[scale0 + (b >> 1)] |= scaleBits << ((b & 1) * 16);
    for (let j = 0; j < bs; j++) {
      const c = start + j;
      let code: number;
      if (scale === 0 || c >= cols) code = format === 'q8' ? 0 : format === 'q4' ? 8 : NF4_ZERO_CODE;
      else {
        const v = src[srcOffset + c] / scale;
        if (format === 'nf4') {
          code = 0;
          while (code < 15 && v > NF4_MIDPOINTS[code]) code++;
        } else {
          const q = Math.max(-QMAX[format], Math.min(QMAX[format], roundHalfAway(v)));
          code = format === 'q8' ? q & 0xff : q + 8;
        }
      }
      const e = b * bs + j;
      dst[dstOffset + Math.floor(e / perWord)] |= code << ((e % perWord) * bits);
    }
  }
}

/** Quantizes a row-major [rows, cols] matrix: rows x `quantRowWords(format, cols)` words. */
export function quantizeMatrix(
  format: QuantFormat,
  values: ArrayLike<number>,
  rows: number,
  cols: number,
): Uint32Array {
  if (values.length !== rows * cols)
    throw new Error(`quantizeMatrix: ${values.length} values do not make a [${rows}, ${cols}] matrix`);
  const rw = quantRowWords(format, cols);
  const out = new Uint32Array(rows * rw);
  for (let r = 0; r < rows; r++) quantizeRow(format, values, r * cols, cols, out, r * rw);
  return out;
}

/** The value code `code` of a block with f16 scale `scale` stands for (an f32, as the kernels compute it). */
export function dequantizeCode(format: QuantFormat, code: number, scale: number): number {
  if (format === 'nf4') return Math.fround(scale * NF4_LEVELS[code]);
  const q = format === 'q8' ? (code << 24) >> 24 : code - 8;
  return Math.fround(scale * q);
}

/** The f32 matrix the quantized words stand for: exactly what the GPU kernels read. */
export function dequantizeMatrix(
  format: QuantFormat,
  words: Uint32Array,
  rows: number,
  cols: number,
): Float32Array {
  const rw = quantRowWords(format, cols);
  if (words.length !== rows * rw)
    throw new Error(`dequantizeMatrix: ${words.length} words are not ${rows} rows of ${rw}`);
  const bs = QUANT_BLOCK[format];
  const bits = QUANT_BITS[format];
  const perWord = 32 / bits;
  const mask = (1 << bits) - 1;
  const codeWords = quantCodeWords(format, cols);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * rw;
    for (let c = 0; c < cols; c++) {
      const b = Math.floor(c / bs);
      const scale = f16BitsToF32((words[base + codeWords + (b >> 1)] >>> ((b & 1) * 16)) & 0xffff);
      const code = (words[base + Math.floor(c / perWord)] >>> ((c % perWord) * bits)) & mask;
      out[r * cols + c] = dequantizeCode(format, code, scale);
    }
  }
  return out;
}
