/**
 * A FlatIndex saved as a directory (Node only):
 * - `index.json`: `{ format: 'llara-vector-index', version: 1, kind: 'flat', metric: 'ip', dims, dtype, count,
 *   byteOrder: 'little', files: { vectors: { path, bytes, sha256 }, ids: { path, bytes, sha256 } } }`,
 * - `vectors.bin`: `count × dims` values (f32, or f16 bits), row-major, little-endian,
 * - `ids.json`: the ids as a JSON array of strings, in row order.
 * The directory is written beside the target under a temporary name and renamed into place, so a crash
 * leaves the previous index (or nothing), never a half-written one. Loading checks sizes and sha256 sums.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeFileSynced } from './atomic-write.ts';
import type { FlatIndex } from './flat-index.ts';
import type { VectorDType } from './vector-index.ts';

export const INDEX_FORMAT = 'llara-vector-index';
export const INDEX_VERSION = 1;

export interface IndexFileEntry {
  path: string;
  bytes: number;
  sha256: string;
}

/** The contents of `index.json`. */
export interface IndexHeader {
  format: typeof INDEX_FORMAT;
  version: typeof INDEX_VERSION;
  kind: 'flat';
  metric: 'ip';
  dims: number;
  dtype: VectorDType;
  count: number;
  byteOrder: 'little';
  files: { vectors: IndexFileEntry; ids: IndexFileEntry };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function checkLittleEndian(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error('Saved indexes are little-endian, and this machine is big-endian.');
  }
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null)) !== null;
}

async function writeEntry(dir: string, path: string, bytes: Uint8Array): Promise<IndexFileEntry> {
  await writeFileSynced(join(dir, path), bytes);
  return { path, bytes: bytes.byteLength, sha256: sha256(bytes) };
}

/** Moves `tmp` to `dir`, replacing an earlier saved index there (restored if the swap fails). */
async function swapInto(tmp: string, dir: string): Promise<void> {
  if (!(await exists(dir))) return rename(tmp, dir);
  if (!(await exists(join(dir, 'index.json')))) {
    throw new Error(`Refusing to replace ${dir}: it exists and is not a saved index (it has no index.json).`);
  }
  const old = `${tmp}.old`;
  await rename(dir, old);
  try {
    await rename(tmp, dir);
  } catch (e) {
    await rename(old, dir);
    throw e;
  }
  await rm(old, { recursive: true, force: true });
}

/**
 * Saves an index as a directory (see the file comment), replacing an earlier saved index at `dir`.
 * @example await saveIndex('out/cranfield-index', index);
 */
export async function saveIndex(dir: string, index: FlatIndex): Promise<IndexHeader> {
  checkLittleEndian();
  await mkdir(dirname(dir), { recursive: true });
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  try {
    const raw = index.store.raw();
    const header: IndexHeader = {
      format: INDEX_FORMAT,
      version: INDEX_VERSION,
      kind: 'flat',
      metric: 'ip',
      dims: index.dims,
      dtype: index.dtype,
      count: index.size,
      byteOrder: 'little',
      files: {
        vectors: await writeEntry(
          tmp,
          'vectors.bin',
          new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength),
        ),
        ids: await writeEntry(tmp, 'ids.json', new TextEncoder().encode(JSON.stringify(index.ids))),
      },
    };
    await writeFileSynced(join(tmp, 'index.json'), `${JSON.stringify(header, null, 2)}\n`);
    await swapInto(tmp, dir);
    return header;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
