import { type DType, fromBf16Array, fromF16Array } from '@llara/gpu';

/** CPU references for elementwise.ts (the specification), in f64. Arrays are flat, row-major. */
export function addRef(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from(a, (v, i) => v + b[i]);
}

/** The new y of `y += alpha * x`. */
export function axpyRef(alpha: number, x: ArrayLike<number>, y: ArrayLike<number>): Float64Array {
  return Float64Array.from(y, (v, i) => v + alpha * x[i]);
}

export function scaleRef(x: ArrayLike<number>, alpha: number): Float64Array {
  return Float64Array.from(x, (v) => v * alpha);
}

export function fillRef(n: number, value: number): Float64Array {
  return new Float64Array(n).fill(value);
}

/** The exact f32 values of stored weights (raw bits for f16/bf16, as @llara/gpu's half.ts decodes them). */
export function castToF32Ref(data: Float32Array | Uint16Array, dtype: DType): Float32Array {
  if (dtype === 'f32') return Float32Array.from(data);
  if (dtype === 'f16') return fromF16Array(data as Uint16Array);
  if (dtype === 'bf16') return fromBf16Array(data as Uint16Array);
  throw new Error(`castToF32Ref: ${dtype} is not a weight dtype.`);
}
