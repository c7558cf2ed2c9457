/**
 * safetensors reading (https://github.com/huggingface/safetensors, "Format"):
 *   [u64 little-endian N] [N bytes of UTF-8 JSON header] [data]
 * The header maps tensor names to {dtype, shape, data_offsets: [begin, end)} with offsets relative to
 * the start of the data, plus an optional "__metadata__" string map. Everything here is browser-safe:
 * the header is parsed from bytes, tensor data is read lazily through `ModelFiles` byte ranges, so a
 * 13 GB checkpoint streams tensor by tensor.
 *
 * Files are treated as hostile: the header length, JSON, dtypes, shapes, byte spans and offsets are all
 * checked, and each problem is one sentence naming the file and the tensor.
 *
 * @example
 * const header = await readSafetensorsHeader(files, 'model.safetensors');
 * const w = tensorToFloat32(await readTensor(files, header, 'model.norm.weight'));
 */
import { type DType, fromBf16Array, fromF16Array, type HostArray, quantRowWords } from '@llara/gpu';
import type { LlamaConfig } from './config.ts';
import { describeFile, type ModelFiles } from './files.ts';

/** Bytes per element of each safetensors dtype. */
export const SAFETENSORS_DTYPE_BYTES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
} as const;

export type SafetensorsDType = keyof typeof SAFETENSORS_DTYPE_BYTES;
/** The dtypes model weights may have (everything else parses but is refused as a weight). */
export type FloatDType = 'F32' | 'F16' | 'BF16';

export function isFloatDType(d: SafetensorsDType): d is FloatDType {
  return d === 'F32' || d === 'F16' || d === 'BF16';
}

/** The safetensors reference implementation's limit; a larger header is a hostile or broken file. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute byte offsets in the file, [begin, end). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** The file's name inside its `ModelFiles` (what reads use). */
  name: string;
  /** The file as messages name it (location/name). */
  file: string;
  fileSize: number;
  /** Byte offset where the data section starts (8 + header length). */
  dataStart: number;
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

/** A tensor's raw little-endian bytes with its dtype and shape (what `readTensor` returns). */
export interface RawTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: Uint8Array;
}

export function numElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Reads the header length from a file's first 8 bytes, checking it against the file size. */
export function headerLength(first8: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || first8.byteLength < 8)
    throw new Error(
      `${file} is not a safetensors file: it has ${fileSize} bytes, fewer than the 8-byte header length.`,
    );
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES))
    throw new Error(
      `${file} is not a valid safetensors file: its header length ${n} is over the 100 MB limit.`,
    );
  if (n + 8n > BigInt(fileSize))
    throw new Error(
      `${file} is truncated or not a safetensors file: its header needs ${n + 8n} bytes but the file has ${fileSize} bytes.`,
    );
  return Number(n);
}

/**
 * Parses a safetensors header. `bytes` holds at least the first 8 + N bytes of the file (more is
 * ignored); `fileSize` is the whole file's size, against which every tensor's span is checked.
 */
export function parseSafetensorsHeader(bytes: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  const n = headerLength(bytes, fileSize, file);
  if (bytes.byteLength < 8 + n)
    throw new Error(
      `${file}: only ${bytes.byteLength} header bytes were given for a header of ${n + 8} bytes.`,
    );
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new Error(`${file} has a header that is not valid JSON (${(e as Error).message}).`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new Error(`${file} has a header that is not a JSON object.`);

  const dataStart = 8 + n;
  const dataSize = fileSize - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
        throw new Error(`${file} has a "__metadata__" entry that is not a string map.`);
      metadata = Object.fromEntries(Object.entries(entry).map(([k, v]) => [k, String(v)]));
      continue;
    }
    const where = `${file}: tensor ${name}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      throw new Error(`${where} has a header entry that is not an object.`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.hasOwn(SAFETENSORS_DTYPE_BYTES, dtype))
      throw new Error(`${where} has an unknown dtype ${JSON.stringify(dtype)}.`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new Error(
        `${where} has a shape that is not a list of non-negative integers: ${JSON.stringify(shape)}.`,
      );
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    )
      throw new Error(`${where} has invalid data_offsets ${JSON.stringify(offsets)}.`);
    const dt = dtype as SafetensorsDType;
    const expectedBytes = numElements(shape) * SAFETENSORS_DTYPE_BYTES[dt];
    const span = offsets[1] - offsets[0];
    if (span !== expectedBytes)
      throw new Error(
        `${where} has shape [${shape.join(', ')}] of ${dt} (${expectedBytes} bytes) but its data_offsets span ${span} bytes.`,
      );
    if (offsets[1] > dataSize)
      throw new Error(
        `${file} is truncated: tensor ${name} ends at byte ${dataStart + offsets[1]} but the file has ${fileSize} bytes.`,
      );
    tensors.set(name, {
      name,
      dtype: dt,
      shape: shape as number[],
      begin: dataStart + offsets[0],
      end: dataStart + offsets[1],
    });
  }

  const sorted = [...tensors.values()].filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end)
      throw new Error(`${file}: tensors ${sorted[i - 1].name} and ${sorted[i].name} overlap in the file.`);
  }
  return { name: file, file, fileSize, dataStart, tensors, metadata };
}

/** Reads and validates the header of a safetensors file (two small reads, never the data). */
export async function readSafetensorsHeader(files: ModelFiles, name: string): Promise<SafetensorsHeader> {
  const label = describeFile(files, name);
  const fileSize = await files.size(name);
  const first8 = fileSize >= 8 ? await files.read(name, 0, 8) : new Uint8Array(0);
  const n = headerLength(first8, fileSize, label);
  const bytes = await files.read(name, 0, 8 + n);
  return { ...parseSafetensorsHeader(bytes, fileSize, label), name };
}

/** Reads one tensor's bytes (one ranged read). */
export async function readTensor(
  files: ModelFiles,
  header: SafetensorsHeader,
  name: string,
): Promise<RawTensor> {
  const info = header.tensors.get(name);
  if (!info) throw new Error(`${header.file} has no tensor ${name}.`);
  const data = await files.read(header.name, info.begin, info.end);
  return { dtype: info.dtype, shape: info.shape.slice(), data };
}

/** Reads rows [rowStart, rowEnd) of a tensor (first dimension), for splitting large weights at load time. */
export async function readTensorRows(
  files: ModelFiles,
  header: SafetensorsHeader,
  name: string,
  rowStart: number,
  rowEnd: number,
): Promise<RawTensor> {
  const info = header.tensors.get(name);
  if (!info) throw new Error(`${header.file} has no tensor ${name}.`);
  const rows = info.shape[0] ?? 1;
  if (
    !(
      Number.isInteger(rowStart) &&
      Number.isInteger(rowEnd) &&
      0 <= rowStart &&
      rowStart <= rowEnd &&
      rowEnd <= rows
    )
  )
    throw new Error(
      `${header.file}: rows [${rowStart}, ${rowEnd}) are outside tensor ${name} with ${rows} rows.`,
    );
  const rowBytes = rows === 0 ? 0 : (info.end - info.begin) / rows;
  const data = await files.read(
    header.name,
    info.begin + rowStart * rowBytes,
    info.begin + rowEnd * rowBytes,
  );
  return { dtype: info.dtype, shape: [rowEnd - rowStart, ...info.shape.slice(1)], data };
}

/** `data` viewed as `Ctor` elements, copied only when its offset is not aligned to the element size. */
function viewAs<T>(
  data: Uint8Array,
  Ctor: { new (b: ArrayBuffer, offset: number, length: number): T; BYTES_PER_ELEMENT: number },
  n: number,
): T {
  const src = data.byteOffset % Ctor.BYTES_PER_ELEMENT === 0 ? data : data.slice();
  return new Ctor(src.buffer as ArrayBuffer, src.byteOffset, n);
}

/** A float tensor's values as f32 (F16/BF16/F64 are converted); refuses non-float dtypes. */
export function tensorToFloat32(t: RawTensor, what = 'tensor'): Float32Array {
  const n = numElements(t.shape);
  switch (t.dtype) {
    case 'F32':
      return viewAs(t.data, Float32Array, n);
    case 'F16':
      return fromF16Array(viewAs(t.data, Uint16Array, n));
    case 'BF16':
      return fromBf16Array(viewAs(t.data, Uint16Array, n));
    case 'F64':
      return Float32Array.from(viewAs(t.data, Float64Array, n));
    default:
      throw new Error(`${what} has dtype ${t.dtype}, which is not a floating-point type.`);
  }
}

/**
 * A float tensor as the GPU runtime holds it on the host: f32 values, or f16/bf16 raw bits
 * (Uint16Array), without converting (what weight uploads use to keep a checkpoint's dtype).
 */
export function tensorToHost(t: RawTensor, what = 'tensor'): { dtype: DType; data: HostArray } {
  const n = numElements(t.shape);
  switch (t.dtype) {
    case 'F32':
      return { dtype: 'f32', data: viewAs(t.data, Float32Array, n) };
    case 'F16':
      return { dtype: 'f16', data: viewAs(t.data, Uint16Array, n) };
    case 'BF16':
      return { dtype: 'bf16', data: viewAs(t.data, Uint16Array, n) };
    default:
      throw new Error(`${what} has dtype ${t.dtype} but weights must be F32, F16 or BF16.`);
  }
}

/**
 * The tensors an HF `LlamaForCausalLM` checkpoint holds for `config`, name -> shape ([out, in] for
 * linear weights). `lm_head.weight` is listed unless the embeddings are tied.
 */
export function expectedTensors(config: LlamaConfig): Map<string, number[]> {
  const h = config.hiddenSize;
  const q = config.numHeads * config.headDim;
  const kv = config.numKvHeads * config.headDim;
  const i = config.intermediateSize;
  const m = new Map<string, number[]>();
  m.set('model.embed_tokens.weight', [config.vocabSize, h]);
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}.`;
    m.set(`${p}input_layernorm.weight`, [h]);
    m.set(`${p}self_attn.q_proj.weight`, [q, h]);
    m.set(`${p}self_attn.k_proj.weight`, [kv, h]);
    m.set(`${p}self_attn.v_proj.weight`, [kv, h]);
    m.set(`${p}self_attn.o_proj.weight`, [h, q]);
    m.set(`${p}post_attention_layernorm.weight`, [h]);
    m.set(`${p}mlp.gate_proj.weight`, [i, h]);
    m.set(`${p}mlp.up_proj.weight`, [i, h]);
    m.set(`${p}mlp.down_proj.weight`, [h, i]);
  }
  m.set('model.norm.weight', [h]);
  if (!config.tieWordEmbeddings) m.set('lm_head.weight', [config.vocabSize, h]);
  return m;
}

/** Tensors HF checkpoints may carry that the model does not use (old rotary caches). */
const IGNORABLE = /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/;

/**
 * Checks a checkpoint's tensor names, shapes and dtypes against the config: a missing, extra,
 * mis-shaped or non-float tensor is refused by name. With tied embeddings an `lm_head.weight` equal in
 * shape to the embedding is tolerated (some exporters write both). `where(name)` labels a tensor's file.
 */
export function checkTensorsAgainstConfig(
  tensors: ReadonlyMap<string, { dtype: SafetensorsDType; shape: number[] }>,
  config: LlamaConfig,
  where: (name: string) => string,
  configFile = 'config.json',
): void {
  const expected = expectedTensors(config);
  const q = config.quantization;
  for (const [name, logical] of expected) {
    const t = tensors.get(name);
    // A quantized folder stores each matrix as U32 rows of blocks (docs/quantization.md).
    const quantized = q !== undefined && logical.length === 2;
    const shape = quantized ? [logical[0], quantRowWords(q, logical[1])] : logical;
    if (!t)
      throw new Error(
        `The checkpoint has no tensor ${name}, which ${configFile} requires (shape [${shape.join(', ')}]).`,
      );
    if (t.shape.length !== shape.length || t.shape.some((d, k) => d !== shape[k]))
      throw new Error(
        `${where(name)}: tensor ${name} has shape [${t.shape.join(', ')}] but ${configFile} implies [${shape.join(', ')}]${quantized ? ` (${q} blocks of [${logical.join(', ')}])` : ''}.`,
      );
    if (quantized && t.dtype !== 'U32')
      throw new Error(
        `${where(name)}: tensor ${name} has dtype ${t.dtype} but ${configFile} says it is ${q}-quantized (U32 words).`,
      );
    if (!quantized && !isFloatDType(t.dtype))
      throw new Error(
        `${where(name)}: tensor ${name} has dtype ${t.dtype} but weights must be F32, F16 or BF16.`,
      );
  }
  for (const [name, t] of tensors) {
    if (expected.has(name) || IGNORABLE.test(name)) continue;
    if (name === 'lm_head.weight' && config.tieWordEmbeddings) {
      const e = expected.get('model.embed_tokens.weight')!;
      if (t.shape.length === 2 && t.shape[0] === e[0] && t.shape[1] === e[1]) continue;
    }
    throw new Error(
      `${where(name)}: tensor ${name} is not part of a LLaMA model as ${configFile} describes it.`,
    );
  }
}
