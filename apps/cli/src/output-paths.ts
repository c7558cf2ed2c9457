/**
 * Output locations checked before any work: a command that would fail to write its result after
 * minutes of embedding or training fails in the first second instead, with one sentence naming the
 * path. A file's missing parent folders are created (as `mkdir -p`); a folder that does not exist yet
 * is left for the command to create, and its nearest existing ancestor is checked instead; either must be writable (checked by creating and removing a probe file, which also catches a
 * read-only file system and permissions that `access` misreports for root).
 *
 * ```ts
 * await prepareOutputFile('runs/emb.npy', '--out'); // creates runs/ if needed
 * await prepareOutputDir('runs/pt', '--out');
 * ```
 */
import { mkdir, open, realpath, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { UserError } from './errors.ts';

const WHY: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder',
  ENOENT: 'a folder on the path does not exist',
  EEXIST: 'something else already has that name',
  ENAMETOOLONG: 'the name is too long',
};

/** Why an I/O call failed, in words (never raw errno text). */
export function ioReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  return (code && WHY[code]) ?? (code ? `error ${code}` : String((e as Error)?.message ?? e));
}

async function mkdirOrFail(dir: string, flag: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new UserError(`${flag}: the folder ${dir} cannot be created (${ioReason(e)}).`);
  }
}

async function checkWritable(dir: string, flag: string, what: string): Promise<void> {
  const probe = join(dir, `.llara-write-test-${process.pid}`);
  try {
    await (await open(probe, 'w')).close();
  } catch (e) {
    throw new UserError(`${flag}: ${what} cannot be written (${ioReason(e)}).`);
  }
  await rm(probe, { force: true });
}

/** Checks that `file` can be written (creating its parent folders); refuses a folder in its place. */
export async function prepareOutputFile(file: string, flag: string): Promise<void> {
  const st = await stat(file).catch(() => null);
  if (st?.isDirectory()) throw new UserError(`${flag} ${file} is a folder; give a file name.`);
  const parent = dirname(resolve(file));
  const pst = await stat(parent).catch(() => null);
  if (pst && !pst.isDirectory())
    throw new UserError(`${flag} ${file} cannot be written (${parent} is a file, not a folder).`);
  if (!pst) await mkdirOrFail(parent, flag);
  await checkWritable(parent, flag, `${file}`);
  if (st) {
    // An existing file may itself be read-only even in a writable folder.
    try {
      await (await open(file, 'r+')).close();
    } catch (e) {
      throw new UserError(`${flag}: ${file} cannot be written (${ioReason(e)}).`);
    }
  }
}

/**
 * Checks that `dir` is, or can be made as, a writable folder, without creating it (the command does,
 * once its inputs are checked): an existing `dir` must be writable, else its nearest existing ancestor.
 */
export async function prepareOutputDir(dir: string, flag: string): Promise<void> {
  const st = await stat(dir).catch(() => null);
  if (st && !st.isDirectory()) throw new UserError(`${flag} ${dir} is a file; give a folder.`);
  if (st) return checkWritable(dir, flag, `the folder ${dir}`);
  for (let p = dirname(resolve(dir)); ; p = dirname(p)) {
    const up = await stat(p).catch(() => null);
    if (up && !up.isDirectory())
      throw new UserError(`${flag}: the folder ${dir} cannot be created (${p} is a file, not a folder).`);
    if (up) return checkWritable(p, flag, `the folder ${dir}`);
    if (dirname(p) === p) return;
  }
}

/** Whether two paths name the same file (an output about to overwrite an input). */
export async function samePath(a: string, b: string): Promise<boolean> {
  const real = async (p: string) => {
    try {
      return await realpath(p);
    } catch {
      // Not there yet: its folder may still be a link to the other's.
      try {
        return join(await realpath(dirname(resolve(p))), resolve(p).split('/').pop() ?? '');
      } catch {
        return resolve(p);
      }
    }
  };
  return (await real(a)) === (await real(b));
}
