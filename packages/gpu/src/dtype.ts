/**
 * Element types a tensor can hold. 16-bit floats are stored as raw bit patterns (Uint16Array) on the
 * CPU side; on the GPU they are either `array<f16>` (with `shader-f16`) or packed two per u32
 * (`unpack2x16float`, bf16 by a 16-bit shift) — the bytes are identical, only the WGSL view differs.
 */
import { isQuantFormat, type QuantFormat, quantRowWords } from './quant-layout.ts';

export type DType = PlainDType | QuantFormat;

/** Dtypes with a fixed size per element. */
export type PlainDType = 'f32' | 'f16' | 'bf16' | 'i32' | 'u32' | 'i8';

/**
 * Bytes per element of the plain dtypes. The block-quantized weight dtypes (q8, q4, nf4: see
 * quant-layout.ts) have no per-element size: use `tensorByteLength`.
 */
export const DTYPE_BYTES: Record<PlainDType, number> = { f32: 4, f16: 2, bf16: 2, i32: 4, u32: 4, i8: 1 };

/** Bytes a tensor of `dtype` and `shape` holds; quantized tensors are 2-D [rows, cols] weights. */
export function tensorByteLength(dtype: DType, shape: readonly number[]): number {
  if (!isQuantFormat(dtype)) return shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
  if (shape.length !== 2) throw new Error(`A ${dtype} tensor must be 2-D [rows, cols], got [${shape}]`);
  return shape[0] * quantRowWords(dtype, shape[1]) * 4;
}

/** The CPU array type that holds a dtype's values (raw bits for f16/bf16). */
export type HostArray = Float32Array | Uint16Array | Int32Array | Uint32Array | Int8Array;

export function hostArrayFor(dtype: DType, buffer: ArrayBuffer, length: number): HostArray {
  switch (dtype) {
    case 'f32':
      return new Float32Array(buffer, 0, length);
    case 'f16':
    case 'bf16':
      return new Uint16Array(buffer, 0, length);
    case 'i32':
      return new Int32Array(buffer, 0, length);
    case 'u32':
      return new Uint32Array(buffer, 0, length);
    case 'i8':
      return new Int8Array(buffer, 0, length);
    // Quantized weights come back as their raw u32 words; `length` counts words here.
    case 'q8':
    case 'q4':
    case 'nf4':
      return new Uint32Array(buffer, 0, length);
  }
}

export function isDType(s: string): s is DType {
  return Object.hasOwn(DTYPE_BYTES, s) || isQuantFormat(s);
}
