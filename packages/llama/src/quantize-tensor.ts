/**
 * A checkpoint matrix (F32, F16 or BF16 bytes as read from safetensors) block-quantized row by row
 * (quantize-rows.ts), decoding one row at a time, so quantizing never holds an f32 copy of the whole
 * tensor; or a tensor of a quantized folder (U32 words) taken as it is.
 *
 * ```ts
 * const words = quantizeRawTensor(await source.read('model.layers.0.mlp.up_proj.weight'), 'nf4', 'up_proj');
 * gpu.tensor('nf4', [11008, 4096], words);
 * ```
 */
import { type QuantFormat, quantRowWords } from '@llara/gpu';
import { quantizeRows } from './quantize-rows.ts';
import { numElements, type RawTensor } from './safetensors.ts';

/** Checks that `raw` is a matrix in a dtype the quantizer reads; returns its [rows, cols]. */
export function quantizableShape(raw: RawTensor, format: QuantFormat, what: string): [number, number] {
  if (raw.shape.length !== 2) throw new Error(`${what} is not a matrix and cannot be ${format}-quantized.`);
  if (raw.dtype !== 'F32' && raw.dtype !== 'F16' && raw.dtype !== 'BF16')
    throw new Error(`${what} has dtype ${raw.dtype} but only F32, F16 and BF16 weights can be quantized.`);
  return [raw.shape[0], raw.shape[1]];
}

/** Quantizes on this thread (`createQuantizePool` in @llara/llama/node spreads rows over threads). */
export function quantizeRawTensor(raw: RawTensor, format: QuantFormat, what: string): Uint32Array {
  const [rows, cols] = quantizableShape(raw, format, what);
  const out = new Uint32Array(rows * quantRowWords(format, cols));
  const err = quantizeRows(format, raw.dtype as 'F32' | 'F16' | 'BF16', raw.data, 0, rows, cols, out, 0);
  if (err) throw new Error(`${what} ${err}.`);
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
