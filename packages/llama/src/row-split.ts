/**
 * A [rows, cols] weight held as consecutive row ranges, each one tensor within one storage binding.
 * LLaMA-2-7B's embedding and LM head (32000 x 4096 in f16: 250 MiB) exceed the 128 MiB per binding a
 * browser gives by default; split by rows they still run there. On most devices a weight is one part.
 *
 * ```ts
 * const embed = uploadRowSplit(gpu, 'model.embed_tokens.weight', 'f16', [32000, 4096], bits);
 * embed.parts.length; // 2 where a binding holds 128 MiB, else 1
 * ```
 *
 * Parts may differ in dtype: a quantized vocabulary keeps its appended special-token rows as a last
 * f32 part.
 */
import {
  type DType,
  type Gpu,
  isQuantFormat,
  quantRowWords,
  type Tensor,
  tensorByteLength,
} from '@llara/gpu';

export interface RowPart {
  tensor: Tensor;
  /** First row of the weight this part holds. */
  row0: number;
  rows: number;
}

export class RowSplit {
  constructor(
    readonly parts: readonly RowPart[],
    readonly cols: number,
  ) {}

  get rows(): number {
    const last = this.parts[this.parts.length - 1];
    return last ? last.row0 + last.rows : 0;
  }

  get byteLength(): number {
    return this.parts.reduce((s, p) => s + p.tensor.byteLength, 0);
  }

  release(): void {
    for (const p of this.parts) p.tensor.release();
  }
}

/** Rows of `cols` values of `bytesPerValue` that fit one storage binding on this device. */
export function rowsPerBinding(gpu: Gpu, cols: number, bytesPerValue: number): number {
  const limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  // f16/bf16 parts are read as packed u32 pairs: keep each part's element count even.
  const rows = Math.floor(limit / (cols * bytesPerValue));
  return bytesPerValue === 2 && cols % 2 === 1 ? rows - (rows % 2) : rows;
}

/**
 * Uploads row-major `data` ([rows, cols] of `dtype`) as few parts as the binding limit allows. A
 * quantized dtype (q8, q4, nf4) takes its u32 words, `quantRowWords(dtype, cols)` per row.
 */
export function uploadRowSplit(
  gpu: Gpu,
  label: string,
  dtype: DType,
  [rows, cols]: readonly number[],
  data: Float32Array | Uint16Array | Uint32Array,
): RowSplit {
  const quantized = isQuantFormat(dtype);
  // Units of `data` per row: values, or a quantized row's words.
  const unit = quantized ? quantRowWords(dtype, cols) : cols;
  const per = quantized
    ? Math.floor(
        Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize) /
          tensorByteLength(dtype, [1, cols]),
      )
    : rowsPerBinding(gpu, cols, dtype === 'f32' ? 4 : 2);
  if (per < 1)
    throw new Error(`${label}: one row of ${cols} values does not fit this device's storage binding.`);
  const parts: RowPart[] = [];
  try {
    for (let row0 = 0; row0 < rows; row0 += per) {
      const n = Math.min(per, rows - row0);
      const name = n === rows ? label : `${label}[${row0}:${row0 + n}]`;
      const tensor = gpu.tensor(dtype, [n, cols], data.subarray(row0 * unit, (row0 + n) * unit), {
        label: name,
        pooled: false,
      });
      parts.push({ tensor, row0, rows: n });
    }
  } catch (e) {
    for (const p of parts) p.tensor.release();
    throw e;
  }
  return new RowSplit(parts, cols);
}
