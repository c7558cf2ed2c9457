import { toBf16Array, toF16Array } from '@llara/gpu';
import { quantizeMatrix } from '@llara/kernels';
import { describe, expect, it } from 'vitest';
import { quantizeRawTensor } from './quantize-tensor.ts';
import { type RawTensor, tensorToFloat32 } from './safetensors.ts';

const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('quantizeRawTensor', () => {
  it('equals quantizing the decoded values, for F32, F16 and BF16 checkpoints', () => {
    const values = Float32Array.from({ length: 5 * 70 }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)));
    for (const raw of [
      { dtype: 'F32', shape: [5, 70], data: bytes(values) },
      { dtype: 'F16', shape: [5, 70], data: bytes(toF16Array(values)) },
      { dtype: 'BF16', shape: [5, 70], data: bytes(toBf16Array(values)) },
    ] as RawTensor[]) {
      const decoded = tensorToFloat32(raw);
      for (const format of ['q8', 'q4', 'nf4'] as const)
        expect(quantizeRawTensor(raw, format, 'w'), `${raw.dtype} ${format}`).toEqual(
          quantizeMatrix(format, decoded, 5, 70),
        );
    }
  });

  it('names the tensor and row of a non-finite value', () => {
    const v = new Float32Array(8);
    v[5] = Number.POSITIVE_INFINITY;
    expect(() =>
      quantizeRawTensor({ dtype: 'F32', shape: [2, 4], data: bytes(v) }, 'q4', 'tensor w'),
    ).toThrow(/^tensor w row 1: cannot quantize the non-finite value Infinity \(column 1\)\.$/);
  });
});
