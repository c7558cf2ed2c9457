/**
 * safetensors writing, laid out as the reference implementation does: tensors ordered by dtype size
 * (largest first) then by name, `__metadata__` first in the header, and the JSON header padded with
 * spaces so the data starts on an 8-byte boundary. Browser-safe: `serializeSafetensors` builds the bytes
 * in memory (adapters, small models); `safetensorsLayout` gives the header and offsets for writers that
 * stream tensors one by one (the Node writer in `@llara/llama/node` writes atomically: temp + rename).
 *
 * @example
 * const bytes = serializeSafetensors([{ name: 'w', dtype: 'F32', shape: [2, 2], data: new Float32Array(4) }]);
 */
import { numElements, SAFETENSORS_DTYPE_BYTES, type SafetensorsDType } from './safetensors.ts';

export interface TensorSpec {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
}

export interface TensorToWrite extends TensorSpec {
  /** Little-endian element bytes (a typed array of the dtype, or raw bytes). */
  data: ArrayBufferView;
}

export interface SafetensorsLayout {
  /** The 8-byte length plus the padded JSON header: the file's first bytes. */
  header: Uint8Array;
  /** Tensors in the order their data follows the header. */
  order: TensorSpec[];
  /** Total file size in bytes. */
  fileSize: number;
}

/** Computes the header and data order for `tensors` (names must be unique). */
export function safetensorsLayout(
  tensors: readonly TensorSpec[],
  metadata?: Record<string, string>,
): SafetensorsLayout {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__' || seen.has(t.name))
      throw new Error(
        `Cannot write a safetensors file with two tensors named ${t.name} (or a tensor named __metadata__).`,
      );
    if (!Object.hasOwn(SAFETENSORS_DTYPE_BYTES, t.dtype))
      throw new Error(`Tensor ${t.name} has an unknown dtype ${t.dtype}.`);
    seen.add(t.name);
  }
  const order = [...tensors].sort(
    (a, b) =>
      SAFETENSORS_DTYPE_BYTES[b.dtype] - SAFETENSORS_DTYPE_BYTES[a.dtype] ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const json: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) json.__metadata__ = metadata;
  let offset = 0;
  for (const t of order) {
    const bytes = numElements(t.shape) * SAFETENSORS_DTYPE_BYTES[t.dtype];
    json[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const padded = Math.ceil(text.byteLength / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(text, 8);
  return { header, order, fileSize: header.byteLength + offset };
}

/** A tensor's data as bytes, checking its length against dtype and shape. */
export function tensorBytesOf(t: TensorToWrite): Uint8Array {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const expected = numElements(t.shape) * SAFETENSORS_DTYPE_BYTES[t.dtype];
  if (bytes.byteLength !== expected)
    throw new Error(
      `Tensor ${t.name} has ${bytes.byteLength} bytes of data but shape [${t.shape.join(', ')}] of ${t.dtype} needs ${expected}.`,
    );
  return bytes;
}

/** The complete safetensors file for `tensors`, in memory. */
export function serializeSafetensors(
  tensors: readonly TensorToWrite[],
  metadata: Record<string, string> = { format: 'pt' },
): Uint8Array {
  const layout = safetensorsLayout(tensors, metadata);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const out = new Uint8Array(layout.fileSize);
  out.set(layout.header, 0);
  let offset = layout.header.byteLength;
  for (const spec of layout.order) {
    const bytes = tensorBytesOf(byName.get(spec.name)!);
    out.set(bytes, offset);
    offset += bytes.byteLength;
  }
  return out;
}
