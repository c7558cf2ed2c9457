import type { DType, Tensor } from '@llara/gpu';

/**
 * Throws unless `t` holds `dtype` (one of several, if a list is given) and, when `n` is given, exactly
 * `n` elements: kernels index by the sizes they are told, so a mismatched tensor would otherwise be
 * read or written out of place without any error.
 */
export function expectTensor(
  kernel: string,
  what: string,
  t: Tensor,
  dtype: DType | readonly DType[],
  n?: number,
): void {
  const dtypes = typeof dtype === 'string' ? [dtype] : dtype;
  if (!dtypes.includes(t.dtype)) {
    throw new Error(`${kernel}: the ${what} tensor must be ${dtypes.join(' or ')}, but it is ${t}.`);
  }
  if (n !== undefined && t.size !== n) {
    throw new Error(`${kernel}: the ${what} tensor must have ${n} elements, but it is ${t}.`);
  }
}

/**
 * Throws when a written tensor shares its buffer with another operand of the same dispatch: WebGPU
 * rejects a buffer bound both writable and read-only in one dispatch, and the kernels assume no overlap.
 */
export function expectNoAlias(
  kernel: string,
  written: [string, Tensor],
  ...others: [string, Tensor][]
): void {
  for (const [name, t] of others) {
    if (t.buffer === written[1].buffer) {
      throw new Error(`${kernel}: the ${written[0]} tensor must not share its buffer with ${name}.`);
    }
  }
}
