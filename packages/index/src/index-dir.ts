/**
 * A FlatIndex or IvfIndex saved as a directory (Node only):
 * - `index.json`: `{ format: 'llara-vector-index', version: 1, kind: 'flat' | 'ivf', metric: 'ip', dims, dtype,
 *   count, byteOrder: 'little', files: { vectors: { path, bytes, sha256 }, ids: { path, bytes, sha256 } } }`,
 *   and for 'ivf' also `nlist`, `nprobe` and files `centroids` and `lists`,
 * - `vectors.bin`: `count × dims` values (f32, or f16 bits), row-major, little-endian (IVF: list after list),
 * - `ids.json`: the ids as a JSON array of strings, in row order,
 * - IVF only: `centroids.bin` (`nlist × dims` f32) and `lists.bin` (`nlist` u32: rows per list, in order).
 * The directory is written beside the target under a temporary name and renamed into place, so a crash
 * leaves the previous index (or nothing), never a half-written one. Loading checks sizes and sha256 sums.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeFileSynced } from './atomic-write.ts';
import type { FlatIndex } from './flat-index.ts';
import { IvfIndex } from './ivf.ts';
import type { VectorDType } from './vector-index.ts';

export const INDEX_FORMAT = 'llara-vector-index';
export const INDEX_VERSION = 1;

export interface IndexFileEntry {
  path: string;
  bytes: number;
  sha256: string;
}

interface HeaderBase {
  format: typeof INDEX_FORMAT;
  version: typeof INDEX_VERSION;
  metric: 'ip';
  dims: number;
  dtype: VectorDType;
  count: number;
  byteOrder: 'little';
}

export interface FlatIndexHeader extends HeaderBase {
  kind: 'flat';
  files: { vectors: IndexFileEntry; ids: IndexFileEntry };
}

export interface IvfIndexHeader extends HeaderBase {
  kind: 'ivf';
  nlist: number;
  nprobe: number;
  files: { vectors: IndexFileEntry; ids: IndexFileEntry; centroids: IndexFileEntry; lists: IndexFileEntry };
}

/** The contents of `index.json`. */
export type IndexHeader = FlatIndexHeader | IvfIndexHeader;

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
  // An empty folder (made ahead by the user) is no index to keep: take its place.
  if ((await readdir(dir)).length === 0) {
    await rmdir(dir);
    return rename(tmp, dir);
  }
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

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Writes the index's files into `tmp` and returns its header. */
async function writeIndexFiles(tmp: string, index: FlatIndex | IvfIndex): Promise<IndexHeader> {
  const base = {
    format: INDEX_FORMAT,
    version: INDEX_VERSION,
    metric: 'ip',
    dims: index.dims,
    dtype: index.dtype,
    count: index.size,
    byteOrder: 'little',
  } as const;
  const ids = (list: readonly string[]) =>
    writeEntry(tmp, 'ids.json', new TextEncoder().encode(JSON.stringify(list)));
  if (!(index instanceof IvfIndex)) {
    const vectors = await writeEntry(tmp, 'vectors.bin', bytesOf(index.store.raw()));
    return { ...base, kind: 'flat', files: { vectors, ids: await ids(index.ids) } };
  }
  const parts = index.parts();
  const rows = parts.lists.reduce((n, l) => n + l.ids.length, 0);
  const values =
    index.dtype === 'f32' ? new Float32Array(rows * index.dims) : new Uint16Array(rows * index.dims);
  let at = 0;
  for (const l of parts.lists) {
    values.set(l.raw, at);
    at += l.raw.length;
  }
  return {
    ...base,
    kind: 'ivf',
    nlist: index.nlist,
    nprobe: index.nprobe,
    files: {
      vectors: await writeEntry(tmp, 'vectors.bin', bytesOf(values)),
      ids: await ids(parts.lists.flatMap((l) => l.ids)),
      centroids: await writeEntry(tmp, 'centroids.bin', bytesOf(parts.centroids)),
      lists: await writeEntry(tmp, 'lists.bin', bytesOf(Uint32Array.from(parts.lists, (l) => l.ids.length))),
    },
  };
}

export interface SaveIndexOptions {
  /**
   * Other files to keep beside the index (e.g. the passages' texts), written into the same temporary
   * directory so they are swapped in together with it: a reader never sees a new index with old extras.
   */
  extraFiles?: Record<string, string | Uint8Array>;
}

/**
 * Saves an index (flat or IVF) as a directory (see the file comment), replacing an earlier saved index
 * at `dir` (all of it: files of the old directory that `extraFiles` does not name are gone).
 * @example await saveIndex('out/cranfield-index', index, { extraFiles: { 'texts.jsonl': texts } });
 */
export async function saveIndex(
  dir: string,
  index: FlatIndex | IvfIndex,
  options: SaveIndexOptions = {},
): Promise<IndexHeader> {
  checkLittleEndian();
  await mkdir(dirname(dir), { recursive: true });
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  try {
    const header = await writeIndexFiles(tmp, index);
    for (const [name, data] of Object.entries(options.extraFiles ?? {})) {
      if (
        name.includes('/') ||
        name === 'index.json' ||
        Object.values(header.files).some((f) => f.path === name)
      )
        throw new Error(`The extra index file name "${name}" is taken or not a plain file name.`);
      await writeFileSynced(join(tmp, name), data);
    }
    await writeFileSynced(join(tmp, 'index.json'), `${JSON.stringify(header, null, 2)}\n`);
    await swapInto(tmp, dir);
    return header;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
