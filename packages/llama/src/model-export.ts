/**
 * Writing a model as an HF folder (Node only) and proving it was written right before anyone uses it.
 *
 * `writeModelFolder` streams a `MergedModel` tensor by tensor into `model.safetensors`, or, when the
 * data exceeds `shardBytes`, into `model-0000i-of-0000n.safetensors` files listed by
 * `model.safetensors.index.json` (the transformers layout), in f32, f16 or bf16. Everything goes into a
 * temporary folder beside the target, which is then re-opened the way a user would open it and checked
 * (`verifyModelFolder`): every expected tensor present under its exact name, none extra, none empty,
 * each tensor's bytes hashing to what was computed in memory, config and tokenizer agreeing. Only then
 * is the folder renamed into place; on any failure it is removed, so a half-written model never exists
 * under the real name.
 *
 * Converting to f16/bf16 is checked value by value against the f32 result (within half a unit in the
 * last place of the target type; an f16 overflow to infinity is refused), and the file's bytes must then
 * equal those converted values exactly, so the reloaded weights equal the in-memory ones exactly in f32
 * and within dtype rounding otherwise.
 *
 * @example
 * const merged = mergeModel(opened.config, opened.checkpoint, { lora });
 * await writeModelFolder('out/merged', merged, { dtype: 'F16', files: { 'config.json': text } });
 */
import * as path from 'node:path';
import { fromBf16Array, fromF16Array, toBf16Array, toF16Array } from '@llara/gpu';
import type { LlamaConfig } from './config.ts';
import type { MergedModel } from './merge.ts';
import { openModelFolder, writeFileAtomic, writeSafetensorsFile } from './node.ts';
import { numElements, SAFETENSORS_DTYPE_BYTES } from './safetensors.ts';
import {
  assertEmptyOrAbsent,
  sha256,
  shardFileName,
  writeShardIndex,
  writeStagedFolder,
} from './staged-folder.ts';
import type { AddedTokenSpec } from './tokenizer.ts';

export type ExportDType = 'F32' | 'F16' | 'BF16';

/** Default most bytes of tensor data per safetensors file (transformers' own default is 5 GB). */
export const DEFAULT_SHARD_BYTES = 2e9;

export interface ExportProgress {
  tensor: string;
  index: number;
  count: number;
  /** Tensor bytes written so far (in the output dtype) and in all. */
  bytes: number;
  totalBytes: number;
}

export interface ModelFolderOptions {
  dtype: ExportDType;
  /** Most bytes of tensor data per safetensors file (default 2 GB); a larger tensor gets a file alone. */
  shardBytes?: number;
  /** The folder's other files (config.json is required; tokenizer files...), written as given. */
  files: Record<string, string | Uint8Array>;
  /** Added tokens that the reloaded tokenizer must map to their ids. */
  expectTokens?: readonly AddedTokenSpec[];
  onProgress?: (p: ExportProgress) => void;
  /** Called once the folder is written, before the check (tests damage it here). */
  beforeVerify?: (tmpDir: string) => Promise<void>;
}

/** What `verifyModelFolder` compares the written folder against. */
export interface ExpectedFolder {
  config: LlamaConfig;
  dtype: ExportDType;
  /** Every tensor, by name: shape and the sha256 of its bytes in the output dtype. */
  tensors: Map<string, { shape: number[]; sha256: string }>;
  tokens?: readonly AddedTokenSpec[];
}

export interface ModelFolderReport {
  dir: string;
  /** Safetensors files written. */
  weightFiles: string[];
  tensors: number;
  /** Bytes of tensor data. */
  totalBytes: number;
  dtype: ExportDType;
}

/**
 * Parses a size such as `2GB`, `500MB`, `1.5GiB` or `1000000` (bytes); GB = 1e9 and GiB = 2^30, as
 * transformers reads `max_shard_size`.
 */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$/i.exec(text);
  if (!m) throw new Error(`"${text}" is not a size (examples: 2GB, 500MB, 1GiB, 1000000).`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const powers: Record<string, number> = { b: 0, kb: 1, mb: 2, gb: 3, tb: 4 };
  const base = unit.includes('i') ? 1024 : 1000;
  const bytes = Math.floor(Number(m[1]) * base ** powers[unit.replace('i', '')]);
  if (!(bytes >= 1)) throw new Error(`"${text}" is not a positive size.`);
  return bytes;
}

/** Groups tensors (in order) into files of at most `shardBytes` of data; an oversized tensor is alone. */
export function planShards(
  sizes: readonly { name: string; bytes: number }[],
  shardBytes: number,
): string[][] {
  const shards: string[][] = [];
  let current: string[] = [];
  let used = 0;
  for (const { name, bytes } of sizes) {
    if (current.length > 0 && used + bytes > shardBytes) {
      shards.push(current);
      current = [];
      used = 0;
    }
    current.push(name);
    used += bytes;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}

/**
 * `values` in `dtype`, checked to be finite and within rounding of the f32 values (f16 overflow refused).
 */
export function encodeWeights(
  values: Float32Array,
  dtype: ExportDType,
  name: string,
): Float32Array | Uint16Array {
  for (let i = 0; i < values.length; i++)
    if (!Number.isFinite(values[i]))
      throw new Error(
        `Tensor ${name} has a non-finite value (${values[i]}) at index ${i}, so it was not exported.`,
      );
  if (dtype === 'F32') return values;
  const bits = dtype === 'F16' ? toF16Array(values) : toBf16Array(values);
  const back = dtype === 'F16' ? fromF16Array(bits) : fromBf16Array(bits);
  // Half a unit in the last place of the target type, relative, plus half its smallest subnormal.
  const rel = dtype === 'F16' ? 2 ** -11 : 2 ** -8;
  const abs = dtype === 'F16' ? 2 ** -25 : 2 ** -134;
  for (let i = 0; i < values.length; i++) {
    const e = values[i];
    if (Math.abs(back[i] - e) > rel * Math.abs(e) + abs) {
      if (!Number.isFinite(back[i]))
        throw new Error(
          `Tensor ${name} has the value ${e} at index ${i}, beyond the f16 range (65504); export as bf16 or f32.`,
        );
      throw new Error(
        `Converting tensor ${name} to ${dtype} gave ${back[i]} for ${e} at index ${i}, more than its rounding error.`,
      );
    }
  }
  return bits;
}

/** Writes `model` as an HF model folder at `dir` (which must not exist or be empty); see the file comment. */
export async function writeModelFolder(
  dir: string,
  model: MergedModel,
  options: ModelFolderOptions,
): Promise<ModelFolderReport> {
  await assertEmptyOrAbsent(dir);
  if (options.files['config.json'] === undefined)
    throw new Error('writeModelFolder needs the config.json text in `files`.');
  for (const name of Object.keys(options.files))
    if (!/^[\w.-]+$/.test(name) || name.startsWith('.')) throw new Error(`${name} is not a plain file name.`);
  const dtype = options.dtype;
  const itemBytes = SAFETENSORS_DTYPE_BYTES[dtype];
  const sizes = model.names.map((name) => ({
    name,
    bytes: numElements(model.shapes.get(name)!) * itemBytes,
  }));
  const totalBytes = sizes.reduce((s, t) => s + t.bytes, 0);
  const shards = planShards(sizes, options.shardBytes ?? DEFAULT_SHARD_BYTES);
  return writeStagedFolder(dir, async (tmp) => {
    const expected: ExpectedFolder = {
      config: model.config,
      dtype,
      tensors: new Map(),
      tokens: options.expectTokens,
    };
    const weightMap: Record<string, string> = {};
    let index = 0;
    let written = 0;
    const weightFiles: string[] = [];
    for (const [s, names] of shards.entries()) {
      const file = shardFileName(s, shards.length);
      weightFiles.push(file);
      await writeSafetensorsFile(
        path.join(tmp, file),
        names.map((name) => ({
          name,
          dtype,
          shape: model.shapes.get(name)!,
          data: async () => {
            const data = encodeWeights(await model.read(name), dtype, name);
            const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
            expected.tensors.set(name, { shape: model.shapes.get(name)!, sha256: sha256(bytes) });
            written += bytes.byteLength;
            options.onProgress?.({
              tensor: name,
              index: index++,
              count: model.names.length,
              bytes: written,
              totalBytes,
            });
            return data;
          },
        })),
      );
      for (const name of names) weightMap[name] = file;
    }
    if (shards.length > 1) await writeShardIndex(tmp, totalBytes, weightMap);
    for (const [name, data] of Object.entries(options.files))
      await writeFileAtomic(path.join(tmp, name), data);
    await options.beforeVerify?.(tmp);
    await verifyModelFolder(tmp, expected);
    return { dir, weightFiles, tensors: model.names.length, totalBytes, dtype };
  });
}

const CONFIG_FIELDS: (keyof LlamaConfig)[] = [
  'hiddenSize',
  'intermediateSize',
  'numLayers',
  'numHeads',
  'numKvHeads',
  'headDim',
  'rmsNormEps',
  'vocabSize',
  'tieWordEmbeddings',
  'ropeTheta',
  'maxPositionEmbeddings',
  'bosTokenId',
  'eosTokenId',
];

/**
 * Re-opens a written model folder as a user would (config, checkpoint headers, tokenizer) and checks
 * it against `expected`; throws one sentence naming the file and the problem.
 */
export async function verifyModelFolder(dir: string, expected: ExpectedFolder): Promise<void> {
  const opened = await openModelFolder(dir);
  const where = (name: string) => opened.checkpoint.where(name);
  for (const key of CONFIG_FIELDS)
    if (opened.config[key] !== expected.config[key])
      throw new Error(
        `${path.join(dir, 'config.json')} has ${key} ${opened.config[key]} but the exported model has ${expected.config[key]}.`,
      );
  for (const name of opened.checkpoint.names)
    if (!expected.tensors.has(name))
      throw new Error(`${where(name)} holds a tensor ${name} that the exported model does not have.`);
  for (const [name, want] of expected.tensors) {
    const info = opened.checkpoint.infos.get(name);
    if (!info) throw new Error(`The written checkpoint in ${dir} is missing tensor ${name}.`);
    if (info.dtype !== expected.dtype)
      throw new Error(`${where(name)}: tensor ${name} is ${info.dtype}, not ${expected.dtype} as asked.`);
    if (info.shape.length !== want.shape.length || info.shape.some((d, k) => d !== want.shape[k]))
      throw new Error(
        `${where(name)}: tensor ${name} has shape [${info.shape.join(', ')}], not [${want.shape.join(', ')}].`,
      );
    if (numElements(info.shape) === 0) throw new Error(`${where(name)}: tensor ${name} is empty.`);
    const raw = await opened.checkpoint.read(name);
    if (sha256(raw.data) !== want.sha256)
      throw new Error(
        `${where(name)}: tensor ${name} as read back differs from the weights computed in memory.`,
      );
  }
  for (const t of expected.tokens ?? []) {
    const id = opened.tokenizer?.tokenToId(t.content);
    if (id !== t.id)
      throw new Error(
        `${path.join(dir, 'tokenizer.json')} maps ${t.content} to ${id ?? 'nothing'}, not to its id ${t.id}.`,
      );
  }
}
