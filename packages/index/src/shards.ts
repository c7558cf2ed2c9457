/**
 * Corpus embeddings as a directory of shards (Node only), the output of `llara embed` and the input of
 * the index builder:
 * - `manifest.json`: `{ format: 'llara-embeddings', version: 1, dims, dtype: 'f32' | 'f16', shards: [{ file:
 *   'shard-00000.npy', ids: 'shard-00000.ids.json', rows, sha256, idsSha256 }], complete }`,
 * - `shard-NNNNN.npy`: `[rows, dims]` float32 (`<f4`) or float16 (`<f2`) values, C order,
 * - `shard-NNNNN.ids.json`: the rows' document ids as a JSON array of strings.
 * Each shard's two files are written atomically (temp file + rename) and only then listed in the manifest,
 * itself replaced atomically; so a crash loses at most the shard being written, and files a manifest does
 * not list are leftovers that the next run overwrites. `complete` turns true when the run finishes.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromF16Array, toF16Array } from '@llara/gpu';
import { writeFileAtomic } from './atomic-write.ts';
import { decodeNpy, encodeNpy } from './npy.ts';
import type { VectorDType, VectorIndex } from './vector-index.ts';
import { checkDims, checkRows } from './vector-store.ts';

export const SHARDS_FORMAT = 'llara-embeddings';
export const SHARDS_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';

export interface ShardEntry {
  /** The `.npy` file, relative to the directory. */
  file: string;
  /** The ids file, relative to the directory. */
  ids: string;
  rows: number;
  /** sha256 (hex) of the `.npy` file. */
  sha256: string;
  /** sha256 (hex) of the ids file. */
  idsSha256: string;
}

export interface ShardManifest {
  format: typeof SHARDS_FORMAT;
  version: typeof SHARDS_VERSION;
  dims: number;
  dtype: VectorDType;
  shards: ShardEntry[];
  /** True once the writer finished; an incomplete directory can be resumed. */
  complete: boolean;
}

/** One shard as read back: ids, the stored values, and the same values as f32. */
export interface ShardData {
  entry: ShardEntry;
  ids: string[];
  /** Values as stored: f32, or f16 bits. */
  raw: Float32Array | Uint16Array;
  /** Values as f32 (the same array as `raw` for f32 shards). */
  vectors: Float32Array;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function shardName(i: number): string {
  return `shard-${String(i).padStart(5, '0')}`;
}

async function readBytes(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${what} ${path} cannot be read (${code === 'ENOENT' ? 'it does not exist' : code}).`);
  }
}

/** Reads and validates `manifest.json` in `dir`. */
export async function readManifest(dir: string): Promise<ShardManifest> {
  const path = join(dir, MANIFEST_FILE);
  const text = (await readBytes(path, 'Embeddings manifest')).toString('utf8');
  return parseManifest(text, path);
}

/** Parses and validates manifest text; `path` names the file in error messages. */
export function parseManifest(text: string, path: string): ShardManifest {
  let m: ShardManifest;
  try {
    m = JSON.parse(text);
  } catch {
    throw new Error(`Embeddings manifest ${path} is not valid JSON.`);
  }
  if (typeof m !== 'object' || m === null || m.format !== SHARDS_FORMAT)
    throw new Error(
      `Embeddings manifest ${path} is not a ${SHARDS_FORMAT} manifest (its "format" field is wrong).`,
    );
  if (m.version !== SHARDS_VERSION)
    throw new Error(
      `Embeddings manifest ${path} has version ${m.version}; this reader supports version ${SHARDS_VERSION}.`,
    );
  const bad = (field: string) => new Error(`Embeddings manifest ${path} has an invalid "${field}" field.`);
  if (!Number.isInteger(m.dims) || m.dims < 1) throw bad('dims');
  if (m.dtype !== 'f32' && m.dtype !== 'f16') throw bad('dtype');
  if (typeof m.complete !== 'boolean') throw bad('complete');
  if (!Array.isArray(m.shards)) throw bad('shards');
  m.shards.forEach((s, i) => {
    const name = /^[\w.-]+$/;
    const ok =
      typeof s === 'object' &&
      s !== null &&
      typeof s.file === 'string' &&
      name.test(s.file) &&
      typeof s.ids === 'string' &&
      name.test(s.ids) &&
      Number.isInteger(s.rows) &&
      s.rows >= 0 &&
      typeof s.sha256 === 'string' &&
      typeof s.idsSha256 === 'string';
    if (!ok) throw bad(`shards[${i}]`);
  });
  return m;
}

/**
 * Reads the shards of `dir` one at a time (only one shard is in memory), checking sizes and checksums.
 * An incomplete directory (an interrupted `llara embed`) is refused unless `allowIncomplete`.
 *
 * @example
 * for await (const { ids, vectors } of readShards('out/embeddings')) index.add(ids, vectors);
 */
export async function* readShards(
  dir: string,
  opts: { allowIncomplete?: boolean } = {},
): AsyncGenerator<ShardData, void, undefined> {
  const m = await readManifest(dir);
  if (!m.complete && !opts.allowIncomplete) {
    throw new Error(
      `Embeddings in ${dir} are incomplete (${m.shards.length} shards written before the run stopped); resume the run to finish them.`,
    );
  }
  const seen = new Set<string>();
  for (const entry of m.shards) {
    yield await readShard(dir, m, entry, seen);
  }
}

async function readShard(
  dir: string,
  m: ShardManifest,
  entry: ShardEntry,
  seen: Set<string>,
): Promise<ShardData> {
  const file = join(dir, entry.file);
  const bytes = await readBytes(file, 'Embeddings shard');
  if (sha256(bytes) !== entry.sha256)
    throw new Error(
      `Embeddings shard ${file} does not match the sha256 in its manifest (it is damaged or was replaced).`,
    );
  const array = decodeNpy(bytes, file);
  const want = m.dtype === 'f32' ? 'f4' : 'f2';
  if (array.dtype !== want)
    throw new Error(
      `Embeddings shard ${file} holds '${array.dtype}' values, but its manifest says ${m.dtype}.`,
    );
  if (array.shape.length !== 2 || array.shape[0] !== entry.rows || array.shape[1] !== m.dims) {
    throw new Error(
      `Embeddings shard ${file} has shape (${array.shape.join(', ')}), but its manifest says (${entry.rows}, ${m.dims}).`,
    );
  }
  const ids = await readIds(dir, entry);
  for (const id of ids) {
    if (seen.has(id))
      throw new Error(
        `Embeddings ids file ${join(dir, entry.ids)} repeats the id "${id}" of an earlier row.`,
      );
    seen.add(id);
  }
  const raw = array.data as Float32Array | Uint16Array;
  const vectors = raw instanceof Float32Array ? raw : fromF16Array(raw);
  return { entry, ids, raw, vectors };
}

async function readIds(dir: string, entry: ShardEntry): Promise<string[]> {
  const path = join(dir, entry.ids);
  const bytes = await readBytes(path, 'Embeddings ids file');
  if (sha256(bytes) !== entry.idsSha256)
    throw new Error(
      `Embeddings ids file ${path} does not match the sha256 in its manifest (it is damaged or was replaced).`,
    );
  let ids: unknown;
  try {
    ids = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new Error(`Embeddings ids file ${path} is not valid JSON.`);
  }
  if (!Array.isArray(ids) || ids.length !== entry.rows || ids.some((id) => typeof id !== 'string'))
    throw new Error(`Embeddings ids file ${path} must be a JSON array of ${entry.rows} strings.`);
  return ids as string[];
}

/**
 * Adds every shard of `dir` to an index, one shard in memory at a time; returns the vectors added.
 * @example const index = new GpuFlatIndex(gpu, 4096, { dtype: 'f16' }); await addShards(index, 'out/emb');
 */
export async function addShards(index: VectorIndex, dir: string): Promise<number> {
  let n = 0;
  for await (const { ids, vectors } of readShards(dir)) {
    index.add(ids, vectors);
    n += ids.length;
  }
  return n;
}

export interface ShardWriterOptions {
  dims: number;
  /** Storage precision of the shards (default 'f32'). */
  dtype?: VectorDType;
  /** Rows per shard (default 65,536); `add` buffers until a shard is full. */
  shardRows?: number;
  /**
   * Continue an incomplete directory with the same dims and dtype (default true); false starts over,
   * forgetting shards already written.
   */
  resume?: boolean;
}

/**
 * Writes embeddings shard by shard, resumable after a crash.
 * @example
 * const out = await ShardWriter.open('out/emb', { dims: 4096, dtype: 'f16' });
 * const todo = docs.filter((doc) => !out.has(doc.id)); // resuming skips what was written
 * await out.add(ids, vectors);
 * await out.finish();
 */
export class ShardWriter {
  private pendingIds: string[] = [];
  private pendingRows: Float32Array[] = [];
  private pendingCount = 0;

  private constructor(
    readonly dir: string,
    private readonly manifest: ShardManifest,
    readonly shardRows: number,
    /** Ids written or buffered, so a repeated id is caught when it is added, not when the index is built. */
    private readonly known: Set<string>,
  ) {}

  static async open(dir: string, opts: ShardWriterOptions): Promise<ShardWriter> {
    checkDims(opts.dims);
    const dtype = opts.dtype ?? 'f32';
    if (dtype !== 'f32' && dtype !== 'f16')
      throw new Error(`Shard dtype must be 'f32' or 'f16', got '${dtype}'.`);
    const shardRows = opts.shardRows ?? 65536;
    if (!Number.isInteger(shardRows) || shardRows < 1)
      throw new RangeError(`shardRows must be a positive integer, got ${shardRows}.`);
    await mkdir(dir, { recursive: true });
    let manifest: ShardManifest = {
      format: SHARDS_FORMAT,
      version: SHARDS_VERSION,
      dims: opts.dims,
      dtype,
      shards: [],
      complete: false,
    };
    const path = join(dir, MANIFEST_FILE);
    const existing = await readFile(path, 'utf8').catch(() => null);
    if (existing !== null && opts.resume !== false) {
      const old = parseManifest(existing, path);
      if (old.complete)
        throw new Error(`Embeddings in ${dir} are already complete; write to a new directory.`);
      if (old.dims !== opts.dims || old.dtype !== dtype) {
        throw new Error(
          `Embeddings in ${dir} hold ${old.dims}-dimensional ${old.dtype} vectors, not ${opts.dims}-dimensional ${dtype}; use another directory.`,
        );
      }
      manifest = old;
    }
    const known = new Set<string>();
    for (const entry of manifest.shards) for (const id of await readIds(dir, entry)) known.add(id);
    const writer = new ShardWriter(dir, manifest, shardRows, known);
    await writer.saveManifest();
    return writer;
  }

  get dims(): number {
    return this.manifest.dims;
  }

  get dtype(): VectorDType {
    return this.manifest.dtype;
  }

  /** Rows already in written shards (not counting rows buffered by `add`). */
  get rowsWritten(): number {
    return this.manifest.shards.reduce((s, e) => s + e.rows, 0);
  }

  /** Ids written or buffered so far, e.g. to skip them when resuming an interrupted run. */
  has(id: string): boolean {
    return this.known.has(id);
  }

  /** Buffers rows, writing a shard each time `shardRows` have gathered. */
  async add(ids: readonly string[], vectors: Float32Array): Promise<void> {
    const n = checkRows(vectors, this.dims, 'The vectors to write');
    if (n !== ids.length)
      throw new Error(`Got ${ids.length} ids for ${n} vectors of ${this.dims} dimensions.`);
    const batch = new Set<string>();
    for (const id of ids) {
      if (this.known.has(id) || batch.has(id))
        throw new Error(`The id "${id}" was already written to ${this.dir}.`);
      batch.add(id);
    }
    for (const id of ids) this.known.add(id);
    const d = this.dims;
    let done = 0;
    while (done < n) {
      const take = Math.min(n - done, this.shardRows - this.pendingCount);
      this.pendingIds.push(...ids.slice(done, done + take));
      this.pendingRows.push(vectors.slice(done * d, (done + take) * d));
      this.pendingCount += take;
      done += take;
      if (this.pendingCount === this.shardRows) await this.flush();
    }
  }

  /** Writes the buffered rows as a shard now (a no-op when nothing is buffered). */
  async flush(): Promise<void> {
    if (this.pendingCount === 0) return;
    const values = new Float32Array(this.pendingCount * this.dims);
    let at = 0;
    for (const part of this.pendingRows) {
      values.set(part, at);
      at += part.length;
    }
    await this.writeShard(this.pendingIds, values);
    this.pendingIds = [];
    this.pendingRows = [];
    this.pendingCount = 0;
  }

  /** Writes the remaining rows and marks the directory complete. */
  async finish(): Promise<ShardManifest> {
    await this.flush();
    this.manifest.complete = true;
    await this.saveManifest();
    return this.manifest;
  }

  private async writeShard(ids: readonly string[], values: Float32Array): Promise<void> {
    const name = shardName(this.manifest.shards.length);
    const npy = encodeNpy(
      this.dtype === 'f32'
        ? { dtype: 'f4', shape: [ids.length, this.dims], data: values }
        : { dtype: 'f2', shape: [ids.length, this.dims], data: toF16Array(values) },
    );
    const idBytes = new TextEncoder().encode(JSON.stringify(ids));
    const entry: ShardEntry = {
      file: `${name}.npy`,
      ids: `${name}.ids.json`,
      rows: ids.length,
      sha256: sha256(npy),
      idsSha256: sha256(idBytes),
    };
    await writeFileAtomic(join(this.dir, entry.file), npy);
    await writeFileAtomic(join(this.dir, entry.ids), idBytes);
    this.manifest.shards.push(entry);
    await this.saveManifest();
  }

  private async saveManifest(): Promise<void> {
    await writeFileAtomic(join(this.dir, MANIFEST_FILE), `${JSON.stringify(this.manifest, null, 2)}\n`);
  }
}
