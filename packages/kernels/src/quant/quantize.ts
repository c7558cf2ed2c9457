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

/** f16 bits -> value for all 65536 patterns, built on first use (a call of f16BitsToF32 per block costs more than the block's codes). */
let halfTable: Float32Array | null = null;

function halfValue(bits: number): number {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = f16BitsToF32(h);
  }
  return halfTable[bits];
}

/** Round half away from zero (C's `roundf`), so ties never depend on the parity of the integer. */
function roundHalfAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/** The NF4 code of v = x / absmax: how many decision thresholds v is above (binary search, 4 compares). */
function nf4Code(v: number): number {
  const m = NF4_MIDPOINTS;
  let c = v > m[7] ? 8 : 0;
  if (v > m[c + 3]) c += 4;
  if (v > m[c + 1]) c += 2;
  if (v > m[c]) c += 1;
  return c;
}

/** The code of value x (column c of `cols`) in a block of scale `scale` (0: the zero code). */
function codeOf(format: QuantFormat, x: number, c: number, cols: number, scale: number): number {
  if (scale === 0 || c >= cols) return format === 'q8' ? 0 : format === 'q4' ? 8 : NF4_ZERO_CODE;
  const v = x / scale;
  if (format === 'nf4') return nf4Code(v);
  const q = Math.max(-QMAX[format], Math.min(QMAX[format], roundHalfAway(v)));
  return format === 'q8' ? q & 0xff : q + 8;
}

/**
 * Quantizes one row of `cols` values (`src[srcOffset ..]`) into `quantRowWords(format, cols)` words
 * at `dst[dstOffset ..]`, which must be zero (fresh) on entry.
 *
 * This is the loader's hot loop (a 7B checkpoint is 6.5 G values), so it works a code word at a time:
 * the codes of 8 (4-bit) or 4 (q8) values are packed into a local and stored once, NF4 levels are
 * found by binary search, and non-finite values are detected per block (`x * 0` is NaN only for NaN and
 * infinities). Every value is still divided by the rounded f16 scale in float64 and rounded as
 * docs/quantization.md says, so the words are the same bits as the plain-loop reference
 * (quantize.ref.ts; compared bit for bit in quantize.test.ts).
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
  const qmax = format === 'nf4' ? 0 : QMAX[format];
  for (let b = 0; b < blocks; b++) {
    const start = b * bs;
    const end = Math.min(cols, start + bs);
    let amax = 0;
    let nan = 0;
    for (let c = start; c < end; c++) {
      const x = src[srcOffset + c];
      nan += x * 0;
      const a = x < 0 ? -x : x;
      if (a > amax) amax = a;
    }
    if (nan !== 0) {
      for (let c = start; c < end; c++) {
        const x = src[srcOffset + c];
        if (!Number.isFinite(x)) throw new Error(`cannot quantize the non-finite value ${x} (column ${c})`);
      }
    }
    // The scale is rounded to f16 first and the codes are computed against the rounded scale.
    const scaleBits = format === 'nf4' ? f32ToF16Bits(amax) : f32ToF16Bits(amax / qmax);
    const scale = halfValue(scaleBits);
    if (scale !== 0) dst[scale0 + (b >> 1)] |= scaleBits << ((b & 1) * 16);
    let w = dstOffset + (start * bits) / 32;
    if (end - start < bs || scale === 0) {
      // A zero block or the row's partial last block: the general path, value by value.
      for (let j = 0; j < bs; j++) {
        const c = start + j;
        const code = codeOf(format, c < cols ? src[srcOffset + c] : 0, c, cols, scale);
        dst[dstOffset + Math.floor((b * bs + j) / perWord)] |= code << (((b * bs + j) % perWord) * bits);
      }
      continue;
    }
    let i = srcOffset + start;
    const stop = srcOffset + end;
    if (format === 'q8') {
      for (; i < stop; i += 4, w++) {
        let word = 0;
        for (let k = 0; k < 4; k++) {
          const v = src[i + k] / scale;
          let q = v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
          if (q > 127) q = 127;
          else if (q < -127) q = -127;
          word |= (q & 0xff) << (k * 8);
        }
        dst[w] = word;
      }
    } else if (format === 'q4') {
      for (; i < stop; i += 8, w++) {
        let word = 0;
        for (let k = 0; k < 8; k++) {
          const v = src[i + k] / scale;
          let q = v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
          if (q > 7) q = 7;
          else if (q < -7) q = -7;
          word |= (q + 8) << (k * 4);
        }
        dst[w] = word;
      }
    } else {
      for (; i < stop; i += 8, w++) {
        let word = 0;
        for (let k = 0; k < 8; k++) word |= nf4Code(src[i + k] / scale) << (k * 4);
        dst[w] = word;
      }
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
