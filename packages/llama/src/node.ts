/**
 * Node-only entry of `@llara/llama`: model folders on disk and atomic writes (temp file + rename, so a
 * crash never leaves a half-written checkpoint under the real name).
 *
 * @example
 * const { model, weights } = await loadModelFolder('data/models/stories260K', {
 *   onProgress: (p) => process.stderr.write(`\r${p.index + 1}/${p.count} tensors`),
 * });
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { LlamaConfig } from './config.ts';
import type { ModelFiles } from './files.ts';
import { type OpenedModel, openModel, readAllFloat32 } from './open-model.ts';
import {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  type LoraWeights,
  readAdapter,
  serializeAdapter,
} from './peft.ts';
import {
  safetensorsLayout,
  type TensorSpec,
  type TensorToWrite,
  tensorBytesOf,
} from './safetensors-writer.ts';
import type { LoadProgress } from './sharded.ts';

export { createQuantizePool, type QuantizePool } from './quantize-pool.ts';

function fsError(e: unknown, file: string): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new Error(`${file} does not exist.`);
  if (code === 'EACCES' || code === 'EPERM') return new Error(`${file} cannot be read (permission denied).`);
  if (code === 'EISDIR') return new Error(`${file} is a folder, not a file.`);
  return new Error(`${file} cannot be read (${(e as Error).message}).`);
}

/** The files of a folder on disk, read by byte ranges (a 13 GB checkpoint is read tensor by tensor). */
export function folderFiles(dir: string): ModelFiles {
  const location = dir.replace(/[/\\]+$/, '') || dir;
  const resolve = (name: string) => {
    if (name.includes('/') || name.includes('\\') || name === '..' || name === '.')
      throw new Error(`${name} is not a plain file name inside ${location}.`);
    return path.join(dir, name);
  };
  const files: ModelFiles = {
    location,
    has: async (name) => {
      try {
        return (await fs.stat(resolve(name))).isFile();
      } catch {
        return false;
      }
    },
    size: async (name) => {
      const p = resolve(name);
      try {
        const st = await fs.stat(p);
        if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
        return st.size;
      } catch (e) {
        throw fsError(e, p);
      }
    },
    read: async (name, start = 0, end) => {
      const p = resolve(name);
      let handle: fs.FileHandle;
      try {
        handle = await fs.open(p, 'r');
      } catch (e) {
        throw fsError(e, p);
      }
      try {
        const size = (await handle.stat()).size;
        end ??= size;
        if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= size))
          throw new Error(`${p} has ${size} bytes, so bytes [${start}, ${end}) cannot be read from it.`);
        const out = new Uint8Array(end - start);
        let done = 0;
        while (done < out.byteLength) {
          const { bytesRead } = await handle.read(out, done, out.byteLength - done, start + done);
          if (bytesRead === 0)
            throw new Error(`${p} ended at byte ${start + done} while reading up to byte ${end}.`);
          done += bytesRead;
        }
        return out;
      } finally {
        await handle.close();
      }
    },
  };
  return files;
}

async function checkFolder(dir: string): Promise<void> {
  let st: Awaited<ReturnType<typeof fs.stat>>;
  try {
    st = await fs.stat(dir);
  } catch {
    throw new Error(`The model folder ${dir} does not exist.`);
  }
  if (!st.isDirectory())
    throw new Error(
      `${dir} is a file, but a model folder (config.json, model.safetensors, ...) was expected.`,
    );
}

/** Opens and checks a model folder (config, checkpoint headers, tokenizer); reads no weights. */
export async function openModelFolder(
  dir: string,
  options: { tokenizer?: boolean } = {},
): Promise<OpenedModel> {
  await checkFolder(dir);
  return openModel(folderFiles(dir), options);
}

/** Opens a model folder and reads all its weights as f32, reporting progress per tensor. */
export async function loadModelFolder(
  dir: string,
  options: { tokenizer?: boolean; onProgress?: (p: LoadProgress) => void } = {},
): Promise<{ model: OpenedModel; weights: Map<string, Float32Array> }> {
  const model = await openModelFolder(dir, options);
  const weights = await readAllFloat32(model.checkpoint, options.onProgress);
  return { model, weights };
}

/** Writes via a temp file in the same folder, then renames over `file` (atomic on POSIX). */
async function atomically(file: string, write: (handle: fs.FileHandle) => Promise<void>): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await fs.open(tmp, 'w');
  try {
    await write(handle);
    await handle.sync();
    await handle.close();
    await fs.rename(tmp, file);
  } catch (e) {
    await handle.close().catch(() => {});
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** Writes `data` to `file` atomically (temp + rename). */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  await atomically(file, async (h) => {
    await h.writeFile(data);
  });
}

/** A tensor to write whose data may be produced on demand (merged exports stream one tensor at a time). */
export interface LazyTensorToWrite extends TensorSpec {
  data: ArrayBufferView | (() => Promise<ArrayBufferView>);
}

/**
 * Writes a safetensors file atomically, streaming tensor data in layout order: with lazy `data`, only
 * one tensor is in memory at a time.
 */
export async function writeSafetensorsFile(
  file: string,
  tensors: readonly LazyTensorToWrite[],
  metadata: Record<string, string> = { format: 'pt' },
): Promise<void> {
  const layout = safetensorsLayout(tensors, metadata);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  await atomically(file, async (h) => {
    await h.write(layout.header);
    for (const spec of layout.order) {
      const t = byName.get(spec.name)!;
      const data = typeof t.data === 'function' ? await t.data() : t.data;
      const bytes = tensorBytesOf({ ...spec, data } as TensorToWrite);
      let done = 0;
      while (done < bytes.byteLength)
        done += (await h.write(bytes, done, bytes.byteLength - done)).bytesWritten;
    }
  });
}

/** Writes adapter_config.json and adapter_model.safetensors (PEFT layout) into `dir`, each atomically. */
export async function writeAdapterFolder(dir: string, weights: LoraWeights): Promise<void> {
  const { configJson, safetensors } = serializeAdapter(weights);
  await writeFileAtomic(path.join(dir, ADAPTER_WEIGHTS_FILE), safetensors);
  await writeFileAtomic(path.join(dir, ADAPTER_CONFIG_FILE), configJson);
}

/** Reads a PEFT adapter folder, checked against `model` (see `readAdapter`). */
export async function readAdapterFolder(
  dir: string,
  model: LlamaConfig,
  options: { vocabSize?: number } = {},
): Promise<LoraWeights> {
  let st: Awaited<ReturnType<typeof fs.stat>>;
  try {
    st = await fs.stat(dir);
  } catch {
    throw new Error(`The adapter folder ${dir} does not exist.`);
  }
  if (!st.isDirectory())
    throw new Error(
      `${dir} is a file, but an adapter folder (adapter_config.json, adapter_model.safetensors) was expected.`,
    );
  return readAdapter(folderFiles(dir), model, options);
}

export {
  DEFAULT_SHARD_BYTES,
  type ExpectedFolder,
  type ExportDType,
  type ExportProgress,
  encodeWeights,
  type ModelFolderOptions,
  type ModelFolderReport,
  parseByteSize,
  planShards,
  verifyModelFolder,
  writeModelFolder,
} from './model-export.ts';
export { type QuantizedFolderReport, writeQuantizedFolder } from './quantized-export.ts';
