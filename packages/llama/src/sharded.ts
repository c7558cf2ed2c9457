/**
 * A checkpoint's tensors, whether in one `model.safetensors` or split into shards listed by
 * `model.safetensors.index.json` (`{"weight_map": {tensor: shard file}}`, as transformers saves models
 * over its shard size). Only headers are read on open; tensors are read one at a time on request.
 *
 * @example
 * const ckpt = await Checkpoint.open(files);
 * checkTensorsAgainstConfig(ckpt.infos, config, (n) => ckpt.where(n));
 * for await (const { name, tensor } of ckpt.stream()) upload(name, tensor);
 */
import { describeFile, type ModelFiles, readJson } from './files.ts';
import {
  numElements,
  type RawTensor,
  readSafetensorsHeader,
  readTensor,
  readTensorRows,
  SAFETENSORS_DTYPE_BYTES,
  type SafetensorsDType,
  type SafetensorsHeader,
  type TensorInfo,
  tensorToFloat32,
} from './safetensors.ts';

export const SAFETENSORS_FILE = 'model.safetensors';
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

/** Progress of reading many tensors: bytes so far of the total, and the tensor just read. */
export interface LoadProgress {
  tensor: string;
  index: number;
  count: number;
  loadedBytes: number;
  totalBytes: number;
}

/**
 * Anything that hands out named tensors lazily: a checkpoint on disk or over HTTP, or random weights
 * (`RandomCheckpoint`). GPU weight upload is written against this.
 */
export interface TensorSource {
  /** Tensor names in file order. */
  readonly names: readonly string[];
  readonly infos: ReadonlyMap<string, { dtype: SafetensorsDType; shape: number[] }>;
  /** Sum of all tensors' bytes. */
  readonly totalBytes: number;
  read(name: string): Promise<RawTensor>;
  /** Rows [start, end) of the first dimension (large weights are split by rows). */
  readRows(name: string, start: number, end: number): Promise<RawTensor>;
}

/** Reads a tensor as f32 values from any source (converting F16/BF16). */
export async function readFloat32(source: TensorSource, name: string): Promise<Float32Array> {
  return tensorToFloat32(await source.read(name), `tensor ${name}`);
}

/** Yields the tensors of `source` one at a time (default: all, in file order), reporting progress. */
export async function* streamTensors(
  source: TensorSource,
  names: readonly string[] = source.names,
  onProgress?: (p: LoadProgress) => void,
): AsyncGenerator<{ name: string; tensor: RawTensor }> {
  const bytesOf = (n: string) => {
    const info = source.infos.get(n);
    if (!info) throw new Error(`The checkpoint has no tensor ${n}.`);
    return tensorBytes(info);
  };
  const totalBytes = names.reduce((s, n) => s + bytesOf(n), 0);
  let loadedBytes = 0;
  for (let index = 0; index < names.length; index++) {
    const name = names[index];
    const tensor = await source.read(name);
    loadedBytes += tensor.data.byteLength;
    onProgress?.({ tensor: name, index, count: names.length, loadedBytes, totalBytes });
    yield { name, tensor };
  }
}

function tensorBytes(info: { dtype: SafetensorsDType; shape: number[] }): number {
  return numElements(info.shape) * SAFETENSORS_DTYPE_BYTES[info.dtype];
}

/** Parses `model.safetensors.index.json` into tensor -> shard file, refusing unsafe shard names. */
export function parseShardIndex(json: unknown, file: string): Map<string, string> {
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map))
    throw new Error(`${file} has no "weight_map" object.`);
  const out = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(map)) {
    if (typeof shard !== 'string' || shard.length === 0)
      throw new Error(`${file} maps tensor ${tensor} to ${JSON.stringify(shard)}, which is not a file name.`);
    // Shards sit next to the index; a path that leaves the folder is a hostile index.
    if (/[/\\]/.test(shard) || shard.startsWith('.'))
      throw new Error(
        `${file} maps tensor ${tensor} to "${shard}", which is not a plain file name in the same folder.`,
      );
    out.set(tensor, shard);
  }
  if (out.size === 0) throw new Error(`${file} has an empty "weight_map".`);
  return out;
}

export class Checkpoint implements TensorSource {
  readonly names: string[];
  readonly infos: Map<string, TensorInfo>;
  readonly totalBytes: number;

  private constructor(
    readonly files: ModelFiles,
    /** Shard headers by file name (one entry for a single-file checkpoint). */
    readonly headers: Map<string, SafetensorsHeader>,
    private readonly shardOf: Map<string, string>,
  ) {
    const all: TensorInfo[] = [];
    for (const h of headers.values())
      for (const t of h.tensors.values()) if (shardOf.get(t.name) === h.name) all.push(t);
    const order = [...headers.keys()];
    all.sort(
      (a, b) =>
        order.indexOf(shardOf.get(a.name)!) - order.indexOf(shardOf.get(b.name)!) || a.begin - b.begin,
    );
    this.names = all.map((t) => t.name);
    this.infos = new Map(all.map((t) => [t.name, t]));
    this.totalBytes = all.reduce((s, t) => s + (t.end - t.begin), 0);
  }

  /**
   * Opens the checkpoint in `files`: `model.safetensors.index.json` with its shards if present, else
   * `model.safetensors`. Reads headers only.
   */
  static async open(files: ModelFiles): Promise<Checkpoint> {
    if (await files.has(SAFETENSORS_INDEX_FILE)) {
      const indexLabel = describeFile(files, SAFETENSORS_INDEX_FILE);
      const shardOf = parseShardIndex(await readJson(files, SAFETENSORS_INDEX_FILE), indexLabel);
      const shards = [...new Set(shardOf.values())];
      const headers = new Map<string, SafetensorsHeader>();
      for (const shard of shards) {
        if (!(await files.has(shard)))
          throw new Error(
            `${describeFile(files, shard)} does not exist but ${indexLabel} lists it as a shard.`,
          );
        headers.set(shard, await readSafetensorsHeader(files, shard));
      }
      for (const [tensor, shard] of shardOf) {
        if (!headers.get(shard)!.tensors.has(tensor))
          throw new Error(
            `${describeFile(files, shard)} has no tensor ${tensor}, which ${indexLabel} places there.`,
          );
      }
      for (const [shard, h] of headers)
        for (const tensor of h.tensors.keys())
          if (shardOf.get(tensor) !== shard)
            throw new Error(
              `${describeFile(files, shard)} holds tensor ${tensor}, which ${indexLabel} ${shardOf.has(tensor) ? `places in ${shardOf.get(tensor)}` : 'does not list'}.`,
            );
      return new Checkpoint(files, headers, shardOf);
    }
    if (await files.has(SAFETENSORS_FILE)) {
      const h = await readSafetensorsHeader(files, SAFETENSORS_FILE);
      return new Checkpoint(
        files,
        new Map([[SAFETENSORS_FILE, h]]),
        new Map([...h.tensors.keys()].map((n) => [n, SAFETENSORS_FILE])),
      );
    }
    const hint = (await files.has('pytorch_model.bin'))
      ? ' (pytorch_model.bin is not supported: convert it to safetensors first)'
      : '';
    throw new Error(
      `${files.location || 'The model files'} have neither ${SAFETENSORS_FILE} nor ${SAFETENSORS_INDEX_FILE}${hint}.`,
    );
  }

  /** The file (location/name) holding a tensor, for messages. */
  where(name: string): string {
    const shard = this.shardOf.get(name);
    return shard ? describeFile(this.files, shard) : this.files.location || 'the checkpoint';
  }

  private header(name: string): SafetensorsHeader {
    const shard = this.shardOf.get(name);
    if (!shard)
      throw new Error(`The checkpoint in ${this.files.location || 'the given files'} has no tensor ${name}.`);
    return this.headers.get(shard)!;
  }

  read(name: string): Promise<RawTensor> {
    return readTensor(this.files, this.header(name), name);
  }

  readRows(name: string, start: number, end: number): Promise<RawTensor> {
    return readTensorRows(this.files, this.header(name), name, start, end);
  }
}
