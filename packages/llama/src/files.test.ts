import { describe, expect, it } from 'vitest';
import { memoryFiles, readJson, urlFiles } from './files.ts';
import { folderFiles, openModelFolder } from './node.ts';

const bytes = Uint8Array.from({ length: 100 }, (_, i) => i);

/** A fetch over an in-memory site; `ranges: false` mimics a server that ignores Range. */
function fakeFetch(site: Record<string, Uint8Array>, ranges: boolean, log: string[]): typeof fetch {
  return (async (input: string | URL, init?: RequestInit) => {
    const url = String(input);
    const body = site[url];
    const range = (init?.headers as Record<string, string> | undefined)?.Range;
    log.push(`${init?.method ?? 'GET'} ${url}${range ? ` ${range}` : ''}`);
    if (!body) return new Response(null, { status: 404 });
    if (init?.method === 'HEAD')
      return new Response(null, { status: 200, headers: { 'content-length': String(body.byteLength) } });
    if (range && ranges) {
      const [, a, b] = /bytes=(\d+)-(\d+)/.exec(range)!;
      return new Response(body.slice(Number(a), Number(b) + 1), { status: 206 });
    }
    return new Response(body.slice(), { status: 200 });
  }) as typeof fetch;
}

describe('ModelFiles', () => {
  it('memoryFiles reads ranges from Blobs, ArrayBuffers and Uint8Arrays alike', async () => {
    const files = memoryFiles({ blob: new Blob([bytes]), buf: bytes.slice().buffer, u8: bytes }, 'dropped');
    for (const name of ['blob', 'buf', 'u8']) {
      expect(await files.size(name)).toBe(100);
      expect(Array.from(await files.read(name, 10, 14))).toEqual([10, 11, 12, 13]);
    }
    expect(await files.has('nope')).toBe(false);
    await expect(files.read('nope')).rejects.toThrow('dropped/nope does not exist.');
    await expect(files.read('u8', 90, 101)).rejects.toThrow(
      'dropped/u8 has 100 bytes, so bytes [90, 101) cannot be read from it.',
    );
  });

  it('urlFiles uses Range requests, and falls back to one whole download', async () => {
    const site = { 'https://h/m/w.bin': bytes };
    const log: string[] = [];
    const files = urlFiles('https://h/m', fakeFetch(site, true, log));
    expect(Array.from(await files.read('w.bin', 5, 8))).toEqual([5, 6, 7]);
    expect(log).toEqual(['HEAD https://h/m/w.bin', 'GET https://h/m/w.bin bytes=5-7']);
    expect(await files.has('x.json')).toBe(false);
    await expect(files.size('x.json')).rejects.toThrow('https://h/m/x.json does not exist.');

    const log2: string[] = [];
    const noRanges = urlFiles('https://h/m/', fakeFetch(site, false, log2));
    expect(Array.from(await noRanges.read('w.bin', 1, 3))).toEqual([1, 2]);
    expect(Array.from(await noRanges.read('w.bin', 98))).toEqual([98, 99]);
    expect(log2.filter((l) => l.startsWith('GET'))).toHaveLength(1);
  });

  it('readJson names the file when its JSON is broken', async () => {
    const files = memoryFiles({ 'config.json': new TextEncoder().encode('{"a": 1,') }, 'models/x');
    await expect(readJson(files, 'config.json')).rejects.toThrow(
      /^models\/x\/config\.json is not valid JSON \(/,
    );
  });

  it('folderFiles and openModelFolder give one sentence for missing things', async () => {
    const dir = new URL('../test/fixtures/tiny-mha', import.meta.url).pathname;
    const files = folderFiles(dir);
    expect(await files.has('config.json')).toBe(true);
    await expect(files.size('tokenizer.json')).rejects.toThrow(`${dir}/tokenizer.json does not exist.`);
    await expect(files.read('../tiny-gqa/config.json')).rejects.toThrow('is not a plain file name inside');
    await expect(openModelFolder('/nonexistent/model')).rejects.toThrow(
      'The model folder /nonexistent/model does not exist.',
    );
    await expect(openModelFolder(`${dir}/config.json`)).rejects.toThrow('is a file, but a model folder');
    await expect(openModelFolder(new URL('../test', import.meta.url).pathname)).rejects.toThrow(
      /test\/config\.json does not exist, so this is not a Hugging Face model folder\.$/,
    );
  });
});
