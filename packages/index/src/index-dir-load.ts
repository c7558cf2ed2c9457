/** Loading and checking a saved index directory (the layout is described in index-dir.ts). */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FlatIndex } from './flat-index.ts';
import { INDEX_FORMAT, INDEX_VERSION, type IndexFileEntry, type IndexHeader } from './index-dir.ts';
import { IvfIndex, type IvfParts } from './ivf.ts';

async function readIndexFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`Index file ${path} is missing.`);
    throw new Error(`Index file ${path} cannot be read (${code ?? (e as Error).message}).`);
  }
}

function isEntry(v: unknown): v is IndexFileEntry {
  const e = v as IndexFileEntry;
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof e.path === 'string' &&
    /^[\w.-]+$/.test(e.path) &&
    Number.isInteger(e.bytes) &&
    typeof e.sha256 === 'string'
  );
}

/** Parses and validates `index.json`. */
export function parseIndexHeader(text: string, path: string): IndexHeader {
  let h: IndexHeader;
  try {
    h = JSON.parse(text);
  } catch {
    throw new Error(`Index file ${path} is not valid JSON.`);
  }
  if (typeof h !== 'object' || h === null || h.format !== INDEX_FORMAT) {
    throw new Error(`Index file ${path} is not a ${INDEX_FORMAT} header.`);
  }
  if (h.version !== INDEX_VERSION) {
    throw new Error(
      `Index file ${path} has version ${h.version}, and this reader supports version ${INDEX_VERSION} only.`,
    );
  }
  const bad = (field: string) => new Error(`Index file ${path} has an invalid "${field}" field.`);
  if (h.kind !== 'flat' && h.kind !== 'ivf') throw bad('kind');
  if (h.metric !== 'ip') throw bad('metric');
  if (h.byteOrder !== 'little') throw bad('byteOrder');
  if (!Number.isInteger(h.dims) || h.dims < 1) throw bad('dims');
  if (h.dtype !== 'f32' && h.dtype !== 'f16') throw bad('dtype');
  if (!Number.isInteger(h.count) || h.count < 0) throw bad('count');
  if (!isEntry(h.files?.vectors)) throw bad('files.vectors');
  if (!isEntry(h.files?.ids)) throw bad('files.ids');
  if (h.kind === 'ivf') {
    if (!Number.isInteger(h.nlist) || h.nlist < 1) throw bad('nlist');
    if (!Number.isInteger(h.nprobe) || h.nprobe < 1) throw bad('nprobe');
    if (!isEntry(h.files?.centroids) || h.files.centroids.bytes !== h.nlist * h.dims * 4)
      throw bad('files.centroids');
    if (!isEntry(h.files?.lists) || h.files.lists.bytes !== h.nlist * 4) throw bad('files.lists');
  }
  const expected = h.count * h.dims * (h.dtype === 'f32' ? 4 : 2);
  if (h.files.vectors.bytes !== expected) {
    throw new Error(
      `Index file ${path} is inconsistent: ${h.count} × ${h.dims} ${h.dtype} values need ${expected} bytes, not ${h.files.vectors.bytes}.`,
    );
  }
  return h;
}

/** Reads one listed file and checks its size and sha256. */
async function readChecked(dir: string, entry: IndexFileEntry): Promise<Buffer> {
  const path = join(dir, entry.path);
  const bytes = await readIndexFile(path);
  if (bytes.byteLength < entry.bytes) {
    throw new Error(
      `Index file ${path} is truncated: index.json says ${entry.bytes} bytes, found ${bytes.byteLength}.`,
    );
  }
  if (bytes.byteLength > entry.bytes) {
    throw new Error(
      `Index file ${path} is corrupt: index.json says ${entry.bytes} bytes, found ${bytes.byteLength}.`,
    );
  }
  if (createHash('sha256').update(bytes).digest('hex') !== entry.sha256) {
    throw new Error(`Index file ${path} is corrupt: its sha256 does not match index.json.`);
  }
  return bytes;
}

function parseIds(bytes: Buffer, path: string, count: number): string[] {
  let ids: unknown;
  try {
    ids = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new Error(`Index file ${path} is not valid JSON.`);
  }
  if (!Array.isArray(ids) || ids.length !== count || ids.some((id) => typeof id !== 'string')) {
    throw new Error(`Index file ${path} must hold an array of ${count} id strings.`);
  }
  if (new Set(ids).size !== ids.length) throw new Error(`Index file ${path} repeats an id.`);
  return ids;
}

/** A checked file's bytes as an aligned copy (Buffers may share an unaligned pool). */
function aligned(bytes: Buffer): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

/**
 * Loads a directory written by `saveIndex` (a FlatIndex or an IvfIndex, as saved), checking every
 * file against `index.json`.
 * @example const index = await loadIndex('out/cranfield-index'); await index.search(queryVectors, 10);
 */
export async function loadIndex(dir: string): Promise<FlatIndex | IvfIndex> {
  const headerPath = join(dir, 'index.json');
  const headerBytes = await readIndexFile(headerPath).catch((e: Error) => {
    throw e.message.endsWith('is missing.')
      ? new Error(`No saved index at ${dir}: ${headerPath} does not exist.`)
      : e;
  });
  const h = parseIndexHeader(headerBytes.toString('utf8'), headerPath);
  const [vectorBytes, idBytes] = await Promise.all([
    readChecked(dir, h.files.vectors),
    readChecked(dir, h.files.ids),
  ]);
  const ids = parseIds(idBytes, join(dir, h.files.ids.path), h.count);
  const buffer = aligned(vectorBytes);
  const values = h.dtype === 'f32' ? new Float32Array(buffer) : new Uint16Array(buffer);
  if (h.kind === 'flat') {
    const index = new FlatIndex(h.dims, { dtype: h.dtype });
    index.store.appendRaw(ids, values);
    return index;
  }
  const [centroidBytes, listBytes] = await Promise.all([
    readChecked(dir, h.files.centroids),
    readChecked(dir, h.files.lists),
  ]);
  const sizes = new Uint32Array(aligned(listBytes));
  if (sizes.reduce((a, b) => a + b, 0) !== h.count)
    throw new Error(
      `Index file ${join(dir, h.files.lists.path)} lists rows that do not add up to ${h.count}.`,
    );
  const lists: IvfParts['lists'] = [];
  let row = 0;
  for (const n of sizes) {
    lists.push({ ids: ids.slice(row, row + n), raw: values.subarray(row * h.dims, (row + n) * h.dims) });
    row += n;
  }
  const centroids = new Float32Array(aligned(centroidBytes));
  return IvfIndex.fromParts(
    h.dims,
    { nlist: h.nlist, nprobe: h.nprobe, dtype: h.dtype },
    { centroids, lists },
  );
}
