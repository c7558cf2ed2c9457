/**
 * Writes a LLaMA-2-7B-shaped model folder with random f16 weights (`RandomCheckpoint`): the tensor names
 * and shapes of meta-llama/Llama-2-7b-hf in two safetensors shards (about 13.5 GB) with their index,
 * config.json and the bundled LLaMA-2 tokenizer, for measuring memory and time on real sizes without
 * downloading. Tensors are generated and written one at a time. Run through
 * `node benchmarks/scripts/make-random-7b.mjs OUT [--layers N]` (fewer layers for a quick try) or
 * `device-main make-model --out DIR` on a benchmark machine; never commit the result.
 *
 * ```ts
 * await makeRandomModel('/tmp/llama-7b', { layers: 8 });   // 8 of the 32 layers, every other size as 7B
 * await makeRandomModel('/tmp/tiny', { smoke: true });     // hidden 128, 2 layers: tests
 * ```
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LLAMA2_7B_CONFIG, type LlamaConfig, llamaConfigToJson, RandomCheckpoint } from '@llara/llama';
import { planShards, writeSafetensorsFile } from '@llara/llama/node';

const DATA = new URL('../../data/', import.meta.url).pathname;

/**
 * The smoke shape: every matrix quantizable (columns a multiple of 64, the nf4 block) and a few blocks
 * wide, so the folder path and all three formats run in seconds on a CPU adapter.
 */
export const SMOKE_FOLDER_CONFIG: LlamaConfig = {
  ...LLAMA2_7B_CONFIG,
  hiddenSize: 128,
  intermediateSize: 256,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 4,
  headDim: 32,
  vocabSize: 512,
  maxPositionEmbeddings: 512,
};

export interface RandomModelOptions {
  /** Decoder layers (default 32, the 7B's; the smoke shape's 2). */
  layers?: number;
  /** The tiny `SMOKE_FOLDER_CONFIG` instead of LLaMA-2-7B's sizes. */
  smoke?: boolean;
}

/** The config a folder made with these options has. */
export function randomModelConfig(o: RandomModelOptions = {}): LlamaConfig {
  const base = o.smoke ? SMOKE_FOLDER_CONFIG : LLAMA2_7B_CONFIG;
  return { ...base, numLayers: o.layers ?? base.numLayers };
}

export async function makeRandomModel(out: string, o: RandomModelOptions = {}): Promise<LlamaConfig> {
  const config = randomModelConfig(o);
  const source = new RandomCheckpoint(config, { seed: 1, dtype: 'F16' });
  await mkdir(out, { recursive: true });
  const sizes = source.names.map((name) => ({
    name,
    bytes: source.infos.get(name)!.shape.reduce((a, b) => a * b, 2),
  }));
  const total = sizes.reduce((s, t) => s + t.bytes, 0);
  // Half the total plus the largest tensor per file: two shards, as meta-llama's checkpoint has.
  const shards = planShards(sizes, Math.ceil(total / 2) + Math.max(...sizes.map((s) => s.bytes)));
  const weightMap: Record<string, string> = {};
  for (const [i, names] of shards.entries()) {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    await writeSafetensorsFile(
      join(out, file),
      names.map((name) => ({
        name,
        dtype: 'F16' as const,
        shape: source.infos.get(name)!.shape,
        data: async () => (await source.read(name)).data,
      })),
    );
    for (const name of names) weightMap[name] = file;
    process.stderr.write(`wrote ${file}\n`);
  }
  await writeFile(
    join(out, 'model.safetensors.index.json'),
    `${JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2)}\n`,
  );
  await writeFile(join(out, 'config.json'), `${JSON.stringify(llamaConfigToJson(config), null, 2)}\n`);
  // The smoke vocabulary is not the tokenizer's: such a folder is opened without its tokenizer.
  if (!o.smoke) await copyFile(join(DATA, 'llama2-tokenizer.json'), join(out, 'tokenizer.json'));
  return config;
}
