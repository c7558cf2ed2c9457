import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeUtf8, readUtf8Lines } from './text-lines.ts';

const file = (bytes: Uint8Array | string) => {
  const path = join(mkdtempSync(join(tmpdir(), 'llara-lines-')), 'f.txt');
  writeFileSync(path, bytes);
  return path;
};

async function lines(path: string) {
  const out: [number, string][] = [];
  for await (const { line, text } of readUtf8Lines(path)) out.push([line, text]);
  return out;
}

describe('strict UTF-8 text', () => {
  it('drops a BOM, takes LF and CRLF and a last line without newline', async () => {
    expect(await lines(file('\ufeffa\r\nb\n\nc'))).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, ''],
      [4, 'c'],
    ]);
    expect(decodeUtf8(new TextEncoder().encode('\ufeffx\n'), 'f')).toBe('x\n');
  });

  it('names the line of a byte that is not UTF-8, also when a long line spans stream chunks', async () => {
    const long = 'é'.repeat(70_000);
    const bytes = Buffer.concat([Buffer.from(`ok\n${long}\n`), Buffer.from([0x63, 0xe9, 0x0a])]);
    const path = file(bytes);
    await expect(lines(path)).rejects.toThrow(`${path} line 3 is not valid UTF-8 text.`);
    expect(() => decodeUtf8(bytes, 'x.tsv')).toThrow('x.tsv line 3 is not valid UTF-8 text.');
    expect((await lines(file(`${long}\n`)))[0][1]).toBe(long);
  });
});
