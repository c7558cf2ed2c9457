/**
 * Storage layout of the block-quantized weight formats (docs/quantization.md has the bit layout).
 * A quantized [rows, cols] weight is `rows` self-contained rows of u32 words: first the packed codes
 * of every block along the row (the input dimension), then the blocks' f16 scales, two per word. A row
 * never shares a word with the next, so a weight splits by rows by slicing words.
 *
 * ```ts
 * quantRowWords('q4', 4096); // 128 blocks: 512 code words + 64 scale words = 576
 * ```
 */
export type QuantFormat = 'q8' | 'q4' | 'nf4';

export const QUANT_FORMATS: readonly QuantFormat[] = ['q8', 'q4', 'nf4'];

/** Values per block (one f16 scale each). */
export const QUANT_BLOCK: Readonly<Record<QuantFormat, number>> = { q8: 32, q4: 32, nf4: 64 };

/** Bits per stored code. */
export const QUANT_BITS: Readonly<Record<QuantFormat, number>> = { q8: 8, q4: 4, nf4: 4 };

export function isQuantFormat(s: unknown): s is QuantFormat {
  return s === 'q8' || s === 'q4' || s === 'nf4';
}

/** Blocks per row of `cols` values (the last block is zero-padded). */
export function quantBlocks(format: QuantFormat, cols: number): number {
  return Math.ceil(cols / QUANT_BLOCK[format]);
}

/** u32 words of a row's codes (scales follow them). */
export function quantCodeWords(format: QuantFormat, cols: number): number {
  return (quantBlocks(format, cols) * QUANT_BLOCK[format] * QUANT_BITS[format]) / 32;
}

/** u32 words one row of `cols` values occupies: codes, then ceil(blocks / 2) words of f16 scales. */
export function quantRowWords(format: QuantFormat, cols: number): number {
  return quantCodeWords(format, cols) + Math.ceil(quantBlocks(format, cols) / 2);
}
