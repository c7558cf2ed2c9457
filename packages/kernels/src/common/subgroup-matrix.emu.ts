/**
 * CPU stand-ins for WGSL's subgroup-matrix builtins (chromium_experimental_subgroup_matrix), for the
 * line-by-line emulations of the tensor-core kernels: loads and stores with bounds checks that name
 * the array, and a multiply-accumulate with exact f16 products and f32 sums.
 */
import { f16BitsToF32, f32ToF16Bits } from '@llara/gpu';

/** A subgroup matrix as rows x cols values, row-major. */
export interface Mat {
  rows: number;
  cols: number;
  v: Float32Array;
}

export const toF16 = (x: number) => f16BitsToF32(f32ToF16Bits(x));

export function at(arr: ArrayLike<number>, i: number, what: string): number {
  if (!(i >= 0 && i < arr.length && Number.isInteger(i)))
    throw new Error(`${what}: index ${i} outside [0, ${arr.length})`);
  return arr[i];
}

export function put(arr: Float32Array, i: number, v: number, what: string): void {
  if (!(i >= 0 && i < arr.length && Number.isInteger(i)))
    throw new Error(`${what}: index ${i} outside [0, ${arr.length})`);
  arr[i] = v;
}

/** subgroupMatrixLoad: entry [r, c] at offset + r*stride + c (row-major) or offset + c*stride + r. */
export function matLoad(
  arr: ArrayLike<number>,
  offset: number,
  colMajor: boolean,
  stride: number,
  rows: number,
  cols: number,
  what: string,
): Mat {
  if (stride < (colMajor ? rows : cols)) throw new Error(`${what}: stride ${stride} too small`);
  const v = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++)
      v[r * cols + c] = at(arr, offset + (colMajor ? c * stride + r : r * stride + c), what);
  }
  return { rows, cols, v };
}

export function matStore(arr: Float32Array, offset: number, m: Mat, stride: number, what: string): void {
  if (stride < m.cols) throw new Error(`${what}: stride ${stride} too small`);
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.cols; c++) put(arr, offset + r * stride + c, m.v[r * m.cols + c], what);
  }
}

/** subgroupMatrixMultiplyAccumulate: products of f16 values are exact; sums rounded to f32. */
export function matMulAcc(a: Mat, b: Mat, acc: Mat): Mat {
  if (a.cols !== b.rows || a.rows !== acc.rows || b.cols !== acc.cols)
    throw new Error('matMulAcc: shape mismatch');
  const v = new Float32Array(acc.rows * acc.cols);
  for (let r = 0; r < acc.rows; r++) {
    for (let c = 0; c < acc.cols; c++) {
      let s = acc.v[r * acc.cols + c];
      for (let k = 0; k < a.cols; k++) s += a.v[r * a.cols + k] * b.v[k * b.cols + c];
      v[r * acc.cols + c] = s;
    }
  }
  return { rows: acc.rows, cols: acc.cols, v };
}
