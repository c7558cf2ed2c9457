import type { DType, Tensor } from '@llara/gpu';

/**
 * Throws when a tensor does not hold exactly `n` elements of `dtype`: kernels index by the shapes they
 * are given, so a mismatched tensor would otherwise be read or written out of place without an error.
 */
export function expectSize(t: Tensor, n: number, what: string, dtype: DType): void {
  if (t.size !== n || t.dtype !== dtype) {
    throw new Error(`The ${what} tensor must be ${dtype} with ${n} elements, but it is ${t}.`);
  }
}
