/**
 * CPU transcription of the quantized `wload4RC` in weights.wgsl (the word-wise decode of an aligned
 * run of 4 values), for the line-by-line emulations of kernels a device here cannot run (the
 * subgroup-matrix matmul), and of `wload8RC` (runs of 8 from one word of 4-bit codes). Every word read is bounds-checked and the alignment the WGSL relies on is
 * asserted, so an emulated kernel that would read a wrong word or an unaligned run throws instead.
 * Keep it in step with weights.wgsl.
 *
 * ```ts
 * const b = { format: 'q4', words: quantizeMatrix('q4', values, rows, cols) } as const;
 * quantLoad4RC(b, r, 8, cols); // values (r, 8..11), as the GPU decodes them
 * ```
 */
import { f16BitsToF32, type QuantFormat } from '@llara/gpu';
import { NF4_LEVELS } from '../quant/nf4-levels.ts';
import { at } from './subgroup-matrix.emu.ts';

/** A block-quantized weight as stored on the device: the u32 words of docs/quantization.md's layout. */
export interface QuantWords {
  format: QuantFormat;
  words: Uint32Array;
}

/** weights.wgsl `qscale`: the f16 scale of block b of the row whose scales start at word s0. */
function qscale(w: Uint32Array, s0: number, b: number): number {
  const word = at(w, s0 + (b >>> 1), 'W (scale)');
  return f16BitsToF32((b & 1) === 1 ? word >>> 16 : word & 0xffff);
}

/** weights.wgsl `wload8RC` (q4 and nf4): values (r, c..c+7) of one code word as f32, zero past `cols`. */
export function quantLoad8RC(b: QuantWords, r: number, c: number, cols: number): number[] {
  if (c % 8 !== 0) throw new Error(`wload8RC: column ${c} is not a multiple of 8`);
  if (b.format === 'q8') throw new Error('wload8RC: q8 has 4 codes to a word');
  const w = b.words;
  const q4 = b.format === 'q4';
  const blocks = q4 ? (cols + 31) >>> 5 : (cols + 63) >>> 6;
  const codeWords = q4 ? blocks * 4 : blocks * 8;
  const row = r * (codeWords + ((blocks + 1) >>> 1));
  const word = at(w, row + (c >>> 3), 'W (codes)');
  const s = qscale(w, row + codeWords, q4 ? c >>> 5 : c >>> 6);
  const nibbles = [0, 4, 8, 12, 16, 20, 24, 28].map((sh) => (word >>> sh) & 15);
  const v = nibbles.map((q) => (q4 ? q - 8 : at(NF4_LEVELS, q, 'NF4')));
  return v.map((x, j) => (c + j < cols ? Math.fround(x * s) : 0));
}

/** weights.wgsl `wload4RC` for the quantized views: values (r, c..c+3) as f32, zero past `cols`. */
export function quantLoad4RC(b: QuantWords, r: number, c: number, cols: number): number[] {
  if (c % 4 !== 0) throw new Error(`wload4RC: column ${c} is not a multiple of 4`);
  const w = b.words;
  let codes: number[];
  let scale: number;
  if (b.format === 'q8') {
    const blocks = (cols + 31) >>> 5;
    const row = r * (blocks * 8 + ((blocks + 1) >>> 1));
    const word = at(w, row + (c >>> 2), 'W (codes)') | 0;
    // (word << (24 - 8j)) >> 24, arithmetic: byte j sign-extended.
    codes = [24, 16, 8, 0].map((s) => (word << s) >> 24);
    scale = qscale(w, row + blocks * 8, c >>> 5);
  } else {
    const blocks = b.format === 'q4' ? (cols + 31) >>> 5 : (cols + 63) >>> 6;
    const codeWords = b.format === 'q4' ? blocks * 4 : blocks * 8;
    const row = r * (codeWords + ((blocks + 1) >>> 1));
    const word = at(w, row + (c >>> 3), 'W (codes)') >>> ((c & 4) * 4);
    const nibbles = [0, 4, 8, 12].map((s) => (word >>> s) & 15);
    codes = b.format === 'q4' ? nibbles.map((q) => q - 8) : nibbles.map((q) => at(NF4_LEVELS, q, 'NF4'));
    scale = qscale(w, row + codeWords, b.format === 'q4' ? c >>> 5 : c >>> 6);
  }
  return codes.map((q, j) => (c + j < cols ? Math.fround(q * scale) : 0));
}
