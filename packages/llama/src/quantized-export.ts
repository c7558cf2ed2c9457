/**
 * `llara export --quantize`: a model folder rewritten with block-quantized matrices (U32 words,
 * docs/quantization.md) and f32 norms, plus a `quantization` block in config.json, so it loads without
 * re-quantizing. Node only. Tensors stream one at a time (a 7B model never sits in memory) into a
 * temporary folder beside the target, which is re-opened as a user would open it (config checked against
 * every tensor's shape and dtype) and compared tensor by tensor before it is renamed into place; on
 * any failure it is removed, so a half-written folder never exists under the real name.
 *
 * @example
 * const opened = await openModelFolder('models/llama-2-7b');
 * await writeQuantizedFolder('models/llama-2-7b-q4', opened, 'q4');
 */
import * as path from 'node:path';
import { type QuantFormat, quantRowWords } from '@llara/gpu';
import { QUANT_LAYOUT } from './config.ts';
import { planShards } from './model-export.ts';
import { openModelFolder, writeFileAtomic, writeSafetensorsFile } from './node.ts';
import type { OpenedModel } from './open-model.ts';
import { quantizeRawTensor } from './quantize-tensor.ts';
import { expectedTensors, numElements, type RawTensor, tensorToFloat32 } from './safetensors.ts';
import {
  assertEmptyOrAbsent,
  sha256,
  shardFileName,
  writeShardIndex,
  writeStagedFolder,
} from './staged-folder.ts';

/** Files of a model folder copied unchanged (config.json is rewritten). */
const COPIED = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'generation_config.json',
  'tokenizer.model',
  'LICENSE',
];

export interface QuantizedFolderReport {
  dir: string;
  format: QuantFormat;
  weightFiles: string[];
  tensors: number;
  totalBytes: number;
}

/** Writes `opened` quantized to `format` at `dir` (absent or empty); see the file comment. */
export async function writeQuantizedFolder(
  dir: string,
  opened: OpenedModel,
  format: QuantFormat,
  options: {
    shardBytes?: number;
    onTensor?: (name: string, index: number, count: number) => void;
    /** Quantizes one matrix (default: this thread; `createQuantizePool().quantize` uses every core). */
    quantizeTensor?: (
      raw: RawTensor,
      format: QuantFormat,
      what: string,
    ) => Promise<Uint32Array> | Uint32Array;
  } = {},
): Promise<QuantizedFolderReport> {
  const { config, checkpoint, files } = opened;
  if (config.quantization)
    throw new Error(
      `${files.location} is already ${config.quantization}-quantized; quantize the full-precision model it came from instead.`,
    );
  await assertEmptyOrAbsent(dir);
  // Quantized matrices: [rows, rowWords] U32; everything else (the norms) F32.
  const specs = [...expectedTensors(config)].map(([name, shape]) =>
    shape.length === 2
      ? { name, dtype: 'U32' as const, shape: [shape[0], quantRowWords(format, shape[1])] }
      : { name, dtype: 'F32' as const, shape },
  );
  const sizes = specs.map((s) => ({ name: s.name, bytes: numElements(s.shape) * 4 }));
  const totalBytes = sizes.reduce((s, t) => s + t.bytes, 0);
  const shards = planShards(sizes, options.shardBytes ?? 2e9);
  const byName = new Map(specs.map((s) => [s.name, s]));
  return writeStagedFolder(dir, async (tmp) => {
    const hashes = new Map<string, string>();
    const weightMap: Record<string, string> = {};
    const weightFiles: string[] = [];
    let index = 0;
    for (const [s, names] of shards.entries()) {
      const file = shardFileName(s, shards.length);
      weightFiles.push(file);
      await writeSafetensorsFile(
        path.join(tmp, file),
        names.map((name) => ({
          ...byName.get(name)!,
          data: async () => {
            const raw = await checkpoint.read(name);
            const data =
              raw.shape.length === 2
                ? await (options.quantizeTensor ?? quantizeRawTensor)(raw, format, `tensor ${name}`)
                : tensorToFloat32(raw, `tensor ${name}`);
            const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
            hashes.set(name, sha256(bytes));
            options.onTensor?.(name, index++, specs.length);
            return bytes;
          },
        })),
      );
      for (const name of names) weightMap[name] = file;
    }
    if (shards.length > 1) await writeShardIndex(tmp, totalBytes, weightMap);
    const json = JSON.parse(new TextDecoder().decode(await files.read('config.json')));
    json.quantization = { format, block_size: format === 'nf4' ? 64 : 32, layout: QUANT_LAYOUT };
    await writeFileAtomic(path.join(tmp, 'config.json'), `${JSON.stringify(json, null, 2)}\n`);
    for (const name of COPIED)
      if (await files.has(name)) await writeFileAtomic(path.join(tmp, name), await files.read(name));
    // Re-open as a user would: config.json's quantization block is checked against every tensor.
    const back = await openModelFolder(tmp, { tokenizer: false });
    if (back.config.quantization !== format)
      throw new Error(`${path.join(dir, 'config.json')} does not say ${format} as written.`);
    for (const [name, want] of hashes) {
      const raw = await back.checkpoint.read(name);
      if (sha256(raw.data) !== want)
        throw new Error(
          `${back.checkpoint.where(name)}: tensor ${name} as read back differs from what was written.`,
        );
    }
    return { dir, format, weightFiles, tensors: specs.length, totalBytes };
  });
}
