/** The staged folder: renamed into place only on success, nothing left behind on failure. */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assertEmptyOrAbsent, shardFileName, writeStagedFolder } from './staged-folder.ts';

const root = mkdtempSync(join(tmpdir(), 'staged-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('writeStagedFolder', () => {
  it('renames the filled folder into place and returns what fill returned', async () => {
    const dir = join(root, 'ok');
    const r = await writeStagedFolder(dir, async (tmp) => {
      writeFileSync(join(tmp, 'a.txt'), 'a');
      return 7;
    });
    expect(r).toBe(7);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('a');
    expect(readdirSync(root).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('leaves neither the folder nor its temporary sibling when fill fails', async () => {
    const dir = join(root, 'fails');
    await expect(
      writeStagedFolder(dir, async (tmp) => {
        writeFileSync(join(tmp, 'half.bin'), 'x');
        throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    expect(readdirSync(root)).not.toContain('fails');
    expect(readdirSync(root).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('refuses an output that is a file or a folder with something in it, accepts an empty one', async () => {
    mkdirSync(join(root, 'full'));
    writeFileSync(join(root, 'full', 'x'), '');
    writeFileSync(join(root, 'file'), '');
    mkdirSync(join(root, 'empty'));
    await expect(assertEmptyOrAbsent(join(root, 'full'))).rejects.toThrow(
      /full already exists and is not an empty folder/,
    );
    await expect(assertEmptyOrAbsent(join(root, 'file'))).rejects.toThrow(/not an empty folder/);
    await expect(assertEmptyOrAbsent(join(root, 'empty'))).resolves.toBeUndefined();
    await expect(assertEmptyOrAbsent(join(root, 'absent'))).resolves.toBeUndefined();
  });

  it('names shards as transformers does', () => {
    expect(shardFileName(0, 1)).toBe('model.safetensors');
    expect(shardFileName(1, 3)).toBe('model-00002-of-00003.safetensors');
  });
});
