/**
 * Writes a LLaMA-2-7B-shaped model folder with random f16 weights (`RandomCheckpoint`): the tensor names
 * and shapes of meta-llama/Llama-2-7b-hf in two safetensors shards (about 13.5 GB) with their index,
 * config.json and the bundled LLaMA-2 tokenizer, for measuring memory and time on real sizes without
 * downloading. Tensors are generated and written one at a time. Run through
 * `node benchmarks/scripts/make-random-7b.mjs OUT [--layers N]` (fewer layers for a quick try); never
 * commit the result.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LLAMA2_7B_CONFIG, llamaConfigToJson, RandomCheckpoint } from '@llara/llama';
import { planShards, writeSafetensorsFile } from '@llara/llama/node';

const DATA = new URL('../../data/', import.meta.url).pathname;

export async function makeRandomModel(out: string, layers = LLAMA2_7B_CONFIG.numLayers): Promise<void> {
  const config = { ...LLAMA2_7B_CONFIG, numLayers: layers };
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
  await copyFile(join(DATA, 'llama2-tokenizer.json'), join(out, 'tokenizer.json'));
}

const [out, flag, n] = process.argv.slice(2).filter((a) => a !== '--');
if (!out || (flag !== undefined && flag !== '--layers')) {
  process.stderr.write('usage: node benchmarks/scripts/make-random-7b.mjs OUT [--layers N]\n');
  process.exit(1);
}
await makeRandomModel(out, flag ? Number(n) : undefined);
