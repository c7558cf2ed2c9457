import { type DType, fromBf16Array, fromF16Array, toBf16Array, toF16Array } from '@llara/gpu';

/**
 * Test weights in a storage dtype: the bytes to upload and the values they hold exactly (after
 * rounding to f16/bf16), which is what a reference must be given.
 */
export function weightSample(
  values: Float32Array,
  dtype: DType,
): { data: ArrayBufferView; values: Float32Array } {
  switch (dtype) {
    case 'f32':
      return { data: values, values };
    case 'f16': {
      const bits = toF16Array(values);
      return { data: bits, values: fromF16Array(bits) };
    }
    case 'bf16': {
      const bits = toBf16Array(values);
      return { data: bits, values: fromBf16Array(bits) };
    }
    default:
      throw new Error(`weightSample: ${dtype} is not a weight dtype.`);
  }
}

/** The weight dtypes every kernel that reads weights is tested with. */
export const WEIGHT_DTYPES: readonly DType[] = ['f32', 'f16', 'bf16'];
