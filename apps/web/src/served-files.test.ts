import { type ModelFiles, memoryFiles } from '@llara/llama';
import { describe, expect, it } from 'vitest';
import { listedFiles } from './served-files.ts';

/** memoryFiles that records which names were asked about. */
function spied(): { files: ModelFiles; asked: string[] } {
  const inner = memoryFiles({ 'config.json': new Uint8Array([123, 125]) }, 'http://example.test/m');
  const asked: string[] = [];
  const files: ModelFiles = {
    location: inner.location,
    has: (n) => {
      asked.push(n);
      return inner.has(n);
    },
    size: (n) => inner.size(n),
    read: (n, s, e) => inner.read(n, s, e),
  };
  return { files, asked };
}

describe('listedFiles', () => {
  it('answers has() for unlisted files without asking the server', async () => {
    const { files, asked } = spied();
    const listed = listedFiles(files, ['config.json']);
    expect(await listed.has('model.safetensors.index.json')).toBe(false);
    expect(await listed.has('config.json')).toBe(true);
    expect(asked).toEqual(['config.json']);
    expect(new TextDecoder().decode(await listed.read('config.json'))).toBe('{}');
  });

  it('asks the server about everything when there is no list', async () => {
    const { files, asked } = spied();
    expect(await listedFiles(files, null).has('tokenizer.json')).toBe(false);
    expect(asked).toEqual(['tokenizer.json']);
  });

  it('keeps a location from another origin whole', () => {
    expect(listedFiles(spied().files, []).location).toBe('http://example.test/m');
  });
});
