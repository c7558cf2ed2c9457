/**
 * A checkpoint matrix (F32, F16 or BF16 bytes as read from safetensors) block-quantized row by row,
 * decoding one row at a time, so quantizing never holds an f32 copy of the whole tensor; or a tensor
 * of a quantized folder (U32 words) taken as it is.
 *
 * ```ts
 * const words = quantizeRawTensor(await source.read('model.layers.0.mlp.up_proj.weight'), 'nf4', 'up_proj');
 * gpu.tensor('nf4', [11008, 4096], words);
 * ```
 */
import { f16BitsToF32, type QuantFormat, quantRowWords } from '@llara/gpu';
import { quantizeRow } from '@llara/kernels';
import { numElements, type RawTensor } from './safetensors.ts';

/** f16 bits -> f32 value for all 65536 patterns, built on first use (decoding by table is ~10x faster). */
let f16Table: Float32Array | null = null;

function halfTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32(h);
  }
  return f16Table;
}

export function quantizeRawTensor(raw: RawTensor, format: QuantFormat, what: string): Uint32Array {
  if (raw.shape.length !== 2) throw new Error(`${what} is not a matrix and cannot be ${format}-quantized.`);
  if (raw.dtype !== 'F32' && raw.dtype !== 'F16' && raw.dtype !== 'BF16')
    throw new Error(`${what} has dtype ${raw.dtype} but only F32, F16 and BF16 weights can be quantized.`);
  const [rows, cols] = raw.shape;
  const rw = quantRowWords(format, cols);
  const out = new Uint32Array(rows * rw);
  const row = new Float32Array(cols);
  const rowBits = new Uint32Array(row.buffer);
  const aligned = raw.data.byteOffset % 4 === 0 ? raw.data : raw.data.slice();
  const f32 = raw.dtype === 'F32' ? new Float32Array(aligned.buffer, aligned.byteOffset, rows * cols) : null;
  const u16 = raw.dtype === 'F32' ? null : new Uint16Array(aligned.buffer, aligned.byteOffset, rows * cols);
  const table = raw.dtype === 'F16' ? halfTable() : null;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    if (f32) row.set(f32.subarray(o, o + cols));
    else if (table) for (let c = 0; c < cols; c++) row[c] = table[u16![o + c]];
    else for (let c = 0; c < cols; c++) rowBits[c] = u16![o + c] << 16; // bf16: the top half of an f32
    try {
      quantizeRow(format, row, 0, cols, out, r * rw);
    } catch (e) {
      throw new Error(`${what} row ${r}: ${(e as Error).message}.`);
    }
  }
  return out;
}

/** The U32 words of an already-quantized tensor ([rows, rowWords] in a quantized folder). */
export function quantizedWords(raw: RawTensor, what: string): Uint32Array {
  if (raw.dtype !== 'U32')
    throw new Error(`${what} has dtype ${raw.dtype} where U32 quantized words were expected.`);
  const n = numElements(raw.shape);
  const src = raw.data.byteOffset % 4 === 0 ? raw.data : raw.data.slice();
  return new Uint32Array(src.buffer as ArrayBuffer, src.byteOffset, n);
}
