import { type DType, tensorByteLength } from './dtype.ts';
import type { Gpu } from './gpu.ts';
import { isQuantFormat } from './quant-layout.ts';

/** Row-major contiguous strides (in elements) for a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * A GPU buffer with a dtype and a row-major shape. 16-bit dtypes occupy 2 bytes per element; kernels
 * read them as `array<f16>` or as packed `array<u32>` depending on the device. The buffer may be larger
 * than the data (pooled sizes round up); `byteLength` is the data's size.
 */
export class Tensor {
  readonly strides: readonly number[];
  readonly size: number;
  readonly byteLength: number;
  private released = false;

  constructor(
    readonly gpu: Gpu,
    readonly buffer: GPUBuffer,
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly label: string,
    private readonly pooled: boolean,
  ) {
    this.strides = contiguousStrides(shape);
    this.size = numel(shape);
    this.byteLength = tensorByteLength(dtype, shape);
  }

  /** Returns the buffer to the pool (or destroys it). The tensor must not be used afterwards. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.pooled) this.gpu.pool.release(this.buffer);
    else this.buffer.destroy();
  }

  get isReleased(): boolean {
    return this.released;
  }

  /** Same buffer, another shape with as many elements. */
  view(shape: readonly number[]): Tensor {
    // A quantized tensor's rows are blocks along its last dimension: only a same-shape view keeps them.
    const sameRows =
      !isQuantFormat(this.dtype) || shape[shape.length - 1] === this.shape[this.shape.length - 1];
    if (numel(shape) !== this.size || !sameRows) {
      throw new Error(`Tensor ${this.label}: cannot view [${this.shape}] as [${shape}]`);
    }
    return new Tensor(this.gpu, this.buffer, this.dtype, shape, this.label, false);
  }

  toString(): string {
    return `Tensor(${this.label}, ${this.dtype}[${this.shape.join(', ')}])`;
  }
}
