/**
 * Element types a tensor can hold. 16-bit floats are stored as raw bit patterns (Uint16Array) on the
 * CPU side; on the GPU they are either `array<f16>` (with `shader-f16`) or packed two per u32
 * (`unpack2x16float`, bf16 by a 16-bit shift) — the bytes are identical, only the WGSL view differs.
 */
export type DType = 'f32' | 'f16' | 'bf16' | 'i32' | 'u32' | 'i8';

export const DTYPE_BYTES: Record<DType, number> = { f32: 4, f16: 2, bf16: 2, i32: 4, u32: 4, i8: 1 };

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
  }
}

export function isDType(s: string): s is DType {
  return s in DTYPE_BYTES;
}
