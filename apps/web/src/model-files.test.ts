import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { type PickedFile, sourceFromPicked } from './model-files.ts';

const file = (name: string, text = '{}') => new File([text], name);
const picked = (...paths: string[]): PickedFile[] =>
  paths.map((path) => ({ path, file: file(path.slice(path.lastIndexOf('/') + 1), path) }));

describe('sourceFromPicked', () => {
  it('takes the model and its adapter from the picked folder itself', async () => {
    const src = sourceFromPicked(
      'tiny',
      picked('config.json', 'model.safetensors', 'adapter_config.json', 'adapter_model.safetensors'),
    );
    expect(src.label).toBe('tiny');
    expect(await src.files.has('model.safetensors')).toBe(true);
    expect(src.adapter?.location).toBe('tiny');
  });

  it('finds the shallowest model folder and an adapter in a subfolder', async () => {
    const src = sourceFromPicked(
      'run',
      picked(
        'notes.txt',
        'model/config.json',
        'model/model.safetensors',
        'model/old/config.json',
        'adapter/adapter_config.json',
        'adapter/adapter_model.safetensors',
      ),
    );
    expect(src.label).toBe('run/model');
    expect(new TextDecoder().decode(await src.files.read('config.json'))).toBe('model/config.json');
    expect(src.adapter?.location).toBe('run/adapter');
    expect(await src.adapter?.has('adapter_model.safetensors')).toBe(true);
  });

  it('reports no adapter when none was picked', () => {
    expect(sourceFromPicked('m', picked('config.json')).adapter).toBeNull();
  });

  it('rejects a folder without config.json in one sentence naming it', () => {
    expect(() => sourceFromPicked('photos', picked('a.jpg', 'b/c.jpg'))).toThrow(
      'The folder photos has no config.json, so it is not a Hugging Face model folder.',
    );
  });

  it('reads a real bundled model folder through memoryFiles', async () => {
    const dir = new URL('../../../data/models/stories260K/', import.meta.url);
    const names = ['config.json', 'tokenizer.json'];
    const files = await Promise.all(
      names.map(async (n) => ({ path: n, file: new File([await readFile(new URL(n, dir))], n) })),
    );
    const src = sourceFromPicked('stories260K', files);
    const config = JSON.parse(new TextDecoder().decode(await src.files.read('config.json')));
    expect(config.hidden_size).toBe(64);
  });
});
