/**
 * A second, independent plain-loop statement of docs/quantization.md, written the slow and obvious way
 * (codes and scales first, then packed bit by bit; NF4 by comparing against every level), so a test can
 * check `quantizeMatrix` bit for bit against the specification rather than against itself.
 */
import { f16BitsToF32, f32ToF16Bits, type QuantFormat } from '@llara/gpu';
import { NF4_LEVELS } from './nf4-levels.ts';

const SPEC = {
  q8: { block: 32, bits: 8 },
  q4: { block: 32, bits: 4 },
  nf4: { block: 64, bits: 4 },
} as const;

/** The integer a symmetric format stores for value v / scale: nearest, halves away from zero, clamped. */
function symmetricCode(v: number, qmax: number): number {
  const mag = Math.min(qmax, Math.floor(Math.abs(v) + 0.5));
  return v < 0 ? -mag : mag;
}

/** The NF4 code of v (already divided by absmax): the nearest level, a tie going to the lower code. */
function nf4Code(v: number): number {
  let best = 0;
  // Levels ascend, so "closer to level i than to the best so far" is "v above their midpoint";
  // 2v and the sum of two f32 levels are exact in f64, so this compares without rounding.
  for (let i = 1; i < 16; i++) if (2 * v > NF4_LEVELS[best] + NF4_LEVELS[i]) best = i;
  return best;
}

export function quantizeMatrixRef(
  format: QuantFormat,
  values: ArrayLike<number>,
  rows: number,
  cols: number,
): Uint32Array {
  const { block, bits } = SPEC[format];
  const blocks = Math.ceil(cols / block);
  const paddedCols = blocks * block;
  const rowWords = (paddedCols * bits) / 32 + Math.ceil(blocks / 2);
  const out = new Uint32Array(rows * rowWords);
  for (let r = 0; r < rows; r++) {
    const codes: number[] = [];
    const scales: number[] = [];
    for (let b = 0; b < blocks; b++) {
      const xs: number[] = [];
      for (let j = 0; j < block; j++) {
        const c = b * block + j;
        xs.push(c < cols ? values[r * cols + c] : 0);
      }
      const absmax = Math.max(...xs.map(Math.abs));
      const scaleBits =
        format === 'nf4' ? f32ToF16Bits(absmax) : f32ToF16Bits(absmax / (format === 'q8' ? 127 : 7));
      const scale = f16BitsToF32(scaleBits);
      scales.push(scale === 0 ? 0 : scaleBits);
      for (const x of xs) {
        if (format === 'nf4') codes.push(scale === 0 ? 7 : nf4Code(x / scale));
        else if (format === 'q8') codes.push(scale === 0 ? 0 : symmetricCode(x / scale, 127) & 255);
        else codes.push((scale === 0 ? 0 : symmetricCode(x / scale, 7)) + 8);
      }
    }
    // Pack bit by bit: value bit k of code e goes to stream bit e * bits + k, little-endian words.
    const base = r * rowWords;
    codes.forEach((code, e) => {
      for (let k = 0; k < bits; k++) {
        if ((code >> k) & 1) {
          const bit = e * bits + k;
          out[base + Math.floor(bit / 32)] += 2 ** (bit % 32);
        }
      }
    });
    const scaleBase = base + (paddedCols * bits) / 32;
    scales.forEach((s, b) => {
      out[scaleBase + Math.floor(b / 2)] += s * (b % 2 === 0 ? 1 : 65536);
    });
  }
  return out;
}
