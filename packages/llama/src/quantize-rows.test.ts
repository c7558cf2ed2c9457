import { f16BitsToF32, QUANT_FORMATS, quantRowWords, toBf16Array, toF16Array } from '@llara/gpu';
import { quantizeMatrixRef } from '@llara/kernels';
import { describe, expect, it } from 'vitest';
import { createQuantizePool } from './quantize-pool.ts';
import { quantizeRows } from './quantize-rows.ts';
import { quantizeRawTensor } from './quantize-tensor.ts';
import { type RawTensor, tensorToFloat32 } from './safetensors.ts';

const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Odd shapes: partial last blocks, one-column rows, an odd block count. */
const SHAPES: [number, number][] = [
  [1, 1],
  [3, 7],
  [5, 65],
  [2, 129],
  [7, 200],
];

/** Mixed magnitudes, exact ties of the integer formats, zero blocks, f16-underflowing blocks, -0. */
function sample(rows: number, cols: number, seed: number): Float32Array {
  const v = new Float32Array(rows * cols);
  let s = seed;
  for (let i = 0; i < v.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const r = Math.floor(i / cols);
    v[i] = ((s / 2 ** 32 - 0.5) * 10 ** (r % 4)) / 3;
  }
  // Row 1 (where present): exact halves against a scale of exactly 1 (q4: absmax 7 in block 0; q8:
  // absmax 127 in block 1), so the halves-away-from-zero rule decides; then zeros and -0.
  const tie = (c: number, top: number) =>
    c === 0 ? top : c === 1 ? -top : (c % 2 ? -1 : 1) * ((Math.floor(c / 2) % top) + 0.5);
  if (rows > 1)
    for (let c = 0; c < cols; c++)
      v[cols + c] = c < 32 ? tie(c, 7) : c < 64 ? tie(c - 32, 127) : c < 96 ? 0 : -0;
  // Row 2: values far below f16's smallest scale (the zero-scale rule). Rows 3..: scales among f16's
  // subnormals (1e-5 .. 1e-8), where rounding the scale moves codes most and clamping happens.
  if (rows > 2) for (let c = 0; c < cols; c++) v[2 * cols + c] = 1e-12 * (c - 3);
  for (let r = 3; r < rows; r++)
    for (let c = 0; c < cols; c++) v[r * cols + c] *= 10 ** -(r + 2) / 10 ** (r % 4);
  return v;
}

function raws(v: Float32Array, rows: number, cols: number): RawTensor[] {
  return [
    { dtype: 'F32', shape: [rows, cols], data: bytes(v) },
    { dtype: 'F16', shape: [rows, cols], data: bytes(toF16Array(v)) },
    { dtype: 'BF16', shape: [rows, cols], data: bytes(toBf16Array(v)) },
  ];
}

describe('quantizeRows (the loader quantizer)', () => {
  it('equals the plain-loop reference bit for bit on odd shapes, every format and source dtype', () => {
    for (const [rows, cols] of SHAPES) {
      const v = sample(rows, cols, rows * 131 + cols);
      for (const raw of raws(v, rows, cols)) {
        const decoded = tensorToFloat32(raw);
        for (const format of QUANT_FORMATS)
          expect(
            Array.from(quantizeRawTensor(raw, format, 'w')),
            `${raw.dtype} ${format} ${rows}x${cols}`,
          ).toEqual(Array.from(quantizeMatrixRef(format, decoded, rows, cols)));
      }
    }
  });

  it('decodes every finite f16 pattern as @llara/gpu does (checked through the reference)', () => {
    const finite = Uint16Array.from({ length: 65536 }, (_, h) => h).filter((h) => (h & 0x7c00) !== 0x7c00);
    const cols = 64;
    const rows = finite.length / cols;
    const raw: RawTensor = { dtype: 'F16', shape: [rows, cols], data: bytes(finite) };
    const decoded = Float32Array.from(finite, (h) => f16BitsToF32(h));
    for (const format of QUANT_FORMATS)
      expect(quantizeRawTensor(raw, format, 'w')).toEqual(quantizeMatrixRef(format, decoded, rows, cols));
  });

  it('quantizes a range of rows into its place, and scales past f16 as the reference does', () => {
    const [rows, cols] = [6, 96];
    const v = sample(rows, cols, 9);
    v[5] = 1e6; // amax / 7 and amax itself overflow f16: an infinite scale
    for (const format of QUANT_FORMATS) {
      const whole = quantizeMatrixRef(format, v, rows, cols);
      const rw = quantRowWords(format, cols);
      const part = new Uint32Array(rows * rw);
      expect(quantizeRows(format, 'F32', bytes(v), 2, 3, cols, part, 2 * rw)).toBeNull();
      expect(part.subarray(2 * rw, 5 * rw)).toEqual(whole.subarray(2 * rw, 5 * rw));
      expect(part.subarray(0, 2 * rw).every((w) => w === 0)).toBe(true);
      const all = new Uint32Array(rows * rw);
      expect(quantizeRows(format, 'F32', bytes(v), 0, rows, cols, all, 0)).toBeNull();
      expect(all).toEqual(whole);
    }
  });

  it('gives the same words on worker threads, and names the row and column of a non-finite value', async () => {
    const pool = createQuantizePool(3);
    try {
      expect(pool.threads).toBe(3);
      // Big enough for the threads (2^18 values), rows split over several chunks.
      const [rows, cols] = [70, 4100];
      const v = sample(rows, cols, 3);
      for (const raw of raws(v, rows, cols).slice(1)) {
        for (const format of QUANT_FORMATS)
          expect(await pool.quantize(raw, format, 'w'), `${raw.dtype} ${format}`).toEqual(
            quantizeRawTensor(raw, format, 'w'),
          );
      }
      // A smaller tensor after them reuses the threads' staging memory: no stale words may survive.
      const small = new Float32Array(64 * 4096);
      small.fill(0.25, 0, 4096 * 3);
      for (const format of QUANT_FORMATS) {
        const raw: RawTensor = { dtype: 'F32', shape: [64, 4096], data: bytes(small) };
        expect(await pool.quantize(raw, format, 'w'), `zeros ${format}`).toEqual(
          quantizeRawTensor(raw, format, 'w'),
        );
      }
      v[41 * cols + 17] = Number.NaN;
      await expect(
        pool.quantize({ dtype: 'F32', shape: [rows, cols], data: bytes(v) }, 'q4', 'tensor w'),
      ).rejects.toThrow(/^tensor w row 41: cannot quantize the non-finite value NaN \(column 17\)\.$/);
    } finally {
      await pool.close();
    }
  });
});
