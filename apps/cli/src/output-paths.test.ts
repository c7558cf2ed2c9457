import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './commands/test-harness.ts';
import { ioReason, prepareOutputDir, prepareOutputFile, samePath } from './output-paths.ts';

describe('output paths', () => {
  it('says why in words, never as raw errno text', () => {
    const e = (code: string) => Object.assign(new Error(`${code}: raw`), { code });
    expect(ioReason(e('EROFS'))).toBe('the file system is read-only');
    expect(ioReason(e('EACCES'))).toBe('permission denied');
    expect(ioReason(e('EWHATEVER'))).toBe('error EWHATEVER');
  });

  it('sees an output that is its input through a link', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'in.json'), '[]');
    mkdirSync(join(dir, 'real'));
    symlinkSync(dir, join(dir, 'real', 'up'));
    expect(await samePath(join(dir, 'in.json'), join(dir, 'real', 'up', 'in.json'))).toBe(true);
    expect(await samePath(join(dir, 'in.json'), join(dir, 'out.json'))).toBe(false);
  });

  // Root writes through any permission bits, so this runs only as an ordinary user.
  it.skipIf(process.getuid?.() === 0)('refuses a read-only folder before any work', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'ro'));
    chmodSync(join(dir, 'ro'), 0o555);
    await expect(prepareOutputFile(join(dir, 'ro', 'x.npy'), '--out')).rejects.toThrow(
      `--out: ${join(dir, 'ro', 'x.npy')} cannot be written (permission denied).`,
    );
    await expect(prepareOutputDir(join(dir, 'ro', 'sub'), '--out')).rejects.toThrow(/permission denied/);
  });
});
