import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryFiles } from './files.ts';
import { folderFiles, openModelFolder } from './node.ts';
import { readAllFloat32 } from './open-model.ts';
import { readSafetensorsHeader, readTensor } from './safetensors.ts';
import { serializeSafetensors, type TensorToWrite } from './safetensors-writer.ts';
import { Checkpoint, type LoadProgress, parseShardIndex, readFloat32 } from './sharded.ts';

const MHA = new URL('../test/fixtures/tiny-mha/', import.meta.url).pathname;
const tmp = await fs.mkdtemp(path.join(tmpdir(), 'llara-shard-'));
afterAll(() => fs.rm(tmp, { recursive: true, force: true }));

/** tiny-mha split into two shards (layer 1 and the head in the second), as transformers saves it. */
async function shardedCopy(dir: string, patchIndex?: (map: Record<string, string>) => void): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const src = folderFiles(MHA);
  const h = await readSafetensorsHeader(src, 'model.safetensors');
  const shards: TensorToWrite[][] = [[], []];
  const map: Record<string, string> = {};
  for (const name of h.tensors.keys()) {
    const t = await readTensor(src, h, name);
    const k = name.startsWith('model.layers.1.') || name === 'lm_head.weight' ? 1 : 0;
    shards[k].push({ name, dtype: t.dtype, shape: t.shape, data: t.data });
    map[name] = `model-0000${k + 1}-of-00002.safetensors`;
  }
  for (let k = 0; k < 2; k++)
    await fs.writeFile(
      path.join(dir, `model-0000${k + 1}-of-00002.safetensors`),
      serializeSafetensors(shards[k]),
    );
  patchIndex?.(map);
  await fs.writeFile(
    path.join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: {}, weight_map: map }),
  );
  await fs.copyFile(path.join(MHA, 'config.json'), path.join(dir, 'config.json'));
}

describe('Checkpoint', () => {
  it('reads a sharded checkpoint exactly like the single file, with progress', {
    timeout: 60_000,
  }, async () => {
    const dir = path.join(tmp, 'ok');
    await shardedCopy(dir);
    const single = await Checkpoint.open(folderFiles(MHA));
    const model = await openModelFolder(dir);
    expect(model.checkpoint.headers.size).toBe(2);
    expect([...model.checkpoint.names].sort()).toEqual([...single.names].sort());
    expect(model.checkpoint.totalBytes).toBe(single.totalBytes);
    expect(model.checkpoint.where('lm_head.weight')).toBe(`${dir}/model-00002-of-00002.safetensors`);
    const progress: LoadProgress[] = [];
    const weights = await readAllFloat32(model.checkpoint, (p) => progress.push(p));
    for (const name of single.names) expect(weights.get(name)).toEqual(await readFloat32(single, name));
    expect(progress).toHaveLength(single.names.length);
    expect(progress.at(-1)).toMatchObject({ loadedBytes: single.totalBytes, totalBytes: single.totalBytes });
    expect(progress.every((p, i) => i === 0 || p.loadedBytes > progress[i - 1].loadedBytes)).toBe(true);
  });

  it('refuses a missing shard, a tensor in the wrong shard, and unlisted tensors', async () => {
    const missing = path.join(tmp, 'missing');
    await shardedCopy(missing);
    await fs.rm(path.join(missing, 'model-00002-of-00002.safetensors'));
    await expect(openModelFolder(missing)).rejects.toThrow(
      `${missing}/model-00002-of-00002.safetensors does not exist but ${missing}/model.safetensors.index.json lists it as a shard.`,
    );

    const wrong = path.join(tmp, 'wrong');
    await shardedCopy(wrong, (m) => {
      m['model.norm.weight'] = 'model-00002-of-00002.safetensors';
    });
    await expect(openModelFolder(wrong)).rejects.toThrow(
      `${wrong}/model-00002-of-00002.safetensors has no tensor model.norm.weight, which ${wrong}/model.safetensors.index.json places there.`,
    );

    const unlisted = path.join(tmp, 'unlisted');
    await shardedCopy(unlisted, (m) => {
      delete m['model.norm.weight'];
    });
    await expect(openModelFolder(unlisted)).rejects.toThrow('holds tensor model.norm.weight, which');
  });

  it('refuses shard names that leave the folder and an index without weight_map', () => {
    expect(() => parseShardIndex({ weight_map: { w: '../secret.safetensors' } }, 'i.json')).toThrow(
      'i.json maps tensor w to "../secret.safetensors", which is not a plain file name in the same folder.',
    );
    expect(() => parseShardIndex({ metadata: {} }, 'i.json')).toThrow('i.json has no "weight_map" object.');
  });

  it('says what is missing when there is no checkpoint at all', async () => {
    await expect(
      Checkpoint.open(memoryFiles({ 'pytorch_model.bin': new Uint8Array(1) }, 'm')),
    ).rejects.toThrow(
      'm have neither model.safetensors nor model.safetensors.index.json (pytorch_model.bin is not supported: convert it to safetensors first).',
    );
  });
});
