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
import { bf16BitsToF32, f16BitsToF32, type QuantFormat, quantRowWords } from '@llara/gpu';
import { quantizeRow } from '@llara/kernels';
import { numElements, type RawTensor } from './safetensors.ts';

export function quantizeRawTensor(raw: RawTensor, format: QuantFormat, what: string): Uint32Array {
  if (raw.shape.length !== 2) throw new Error(`${what} is not a matrix and cannot be ${format}-quantized.`);
  const [rows, cols] = raw.shape;
  const rw = quantRowWords(format, cols);
  const out = new Uint32Array(rows * rw);
  const row = new Float32Array(cols);
  const bytes = raw.data;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decode =
    raw.dtype === 'F32'
      ? (i: number) => dv.getFloat32(i * 4, true)
      : raw.dtype === 'F16'
        ? (i: number) => f16BitsToF32(dv.getUint16(i * 2, true))
        : raw.dtype === 'BF16'
          ? (i: number) => bf16BitsToF32(dv.getUint16(i * 2, true))
          : null;
  if (!decode)
    throw new Error(`${what} has dtype ${raw.dtype} but only F32, F16 and BF16 weights can be quantized.`);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) row[c] = decode(r * cols + c);
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
