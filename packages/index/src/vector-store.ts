/**
 * Growable row-major storage of id-tagged vectors in f32 or f16, the shared core of the flat and IVF indexes.
 * Removal swaps the last row into the hole, so rows stay contiguous and removal costs O(dims).
 */
import { f16BitsToF32, toF16Array } from '@llara/gpu';
import type { VectorDType } from './vector-index.ts';

/** Throws unless `vectors` holds whole rows of finite values; returns the row count. */
export function checkRows(vectors: Float32Array, dims: number, what: string): number {
  if (vectors.length % dims !== 0) {
    throw new Error(
      `${what} hold ${vectors.length} values, which is not a multiple of the ${dims} dimensions.`,
    );
  }
  // x * 0 is NaN exactly for NaN and ±Infinity, so one branch-free pass finds out whether to look closer.
  let probe = 0;
  for (let i = 0; i < vectors.length; i++) probe += vectors[i] * 0;
  if (Number.isNaN(probe)) {
    const i = vectors.findIndex((v) => !Number.isFinite(v));
    throw new Error(`${what} hold a non-finite value (${vectors[i]}) in row ${Math.floor(i / dims)}.`);
  }
  return vectors.length / dims;
}

let halfTable: Float32Array | undefined;

/** All 65,536 float16 bit patterns decoded, so decoding a row is one table lookup per value. */
export function f16Table(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = f16BitsToF32(h);
  }
  return halfTable;
}

export function checkDims(dims: number): void {
  if (!Number.isInteger(dims) || dims < 1)
    throw new RangeError(`Vector dimensions must be a positive integer, got ${dims}.`);
}

export class VectorStore {
  private data: Float32Array | Uint16Array;
  private readonly rowIds: string[] = [];
  private readonly rowOf = new Map<string, number>();

  constructor(
    readonly dims: number,
    readonly dtype: VectorDType = 'f32',
  ) {
    checkDims(dims);
    if (dtype !== 'f32' && dtype !== 'f16')
      throw new Error(`Vector dtype must be 'f32' or 'f16', got '${dtype}'.`);
    this.data = dtype === 'f32' ? new Float32Array(0) : new Uint16Array(0);
  }

  get size(): number {
    return this.rowIds.length;
  }

  /** Ids in row order. */
  get ids(): readonly string[] {
    return this.rowIds;
  }

  has(id: string): boolean {
    return this.rowOf.has(id);
  }

  /** Stored elements (f32 values or f16 bits), `size * dims` of them, row-major; a view, not a copy. */
  raw(): Float32Array | Uint16Array {
    return this.data.subarray(0, this.size * this.dims);
  }

  /** Adds rows after checking their shape, values and ids. */
  add(ids: readonly string[], vectors: Float32Array): void {
    const n = checkRows(vectors, this.dims, 'The vectors to add');
    if (n !== ids.length)
      throw new Error(`Got ${ids.length} ids for ${n} vectors of ${this.dims} dimensions.`);
    const batch = new Set<string>();
    for (const id of ids) {
      if (this.rowOf.has(id) || batch.has(id)) throw new Error(`The id "${id}" is already in the index.`);
      batch.add(id);
    }
    this.appendRaw(ids, this.dtype === 'f32' ? vectors : toF16Array(vectors));
  }

  /** Appends rows already in the storage dtype (no value checks: for loading trusted, checksummed files). */
  appendRaw(ids: readonly string[], values: Float32Array | Uint16Array): void {
    const start = this.size * this.dims;
    this.reserve(start + values.length);
    this.data.set(values, start);
    for (const id of ids) {
      this.rowOf.set(id, this.rowIds.length);
      this.rowIds.push(id);
    }
  }

  /** Removes ids that are present; returns how many were. */
  remove(ids: readonly string[]): number {
    let removed = 0;
    for (const id of ids) {
      const row = this.rowOf.get(id);
      if (row === undefined) continue;
      const last = this.size - 1;
      if (row !== last) {
        const d = this.dims;
        this.data.copyWithin(row * d, last * d, last * d + d);
        const moved = this.rowIds[last];
        this.rowIds[row] = moved;
        this.rowOf.set(moved, row);
      }
      this.rowIds.pop();
      this.rowOf.delete(id);
      removed++;
    }
    return removed;
  }

  /** One vector as f32 (a copy), or undefined for an unknown id. */
  get(id: string): Float32Array | undefined {
    const row = this.rowOf.get(id);
    return row === undefined ? undefined : this.rowsF32(row, row + 1, new Float32Array(this.dims)).slice();
  }

  /**
   * Rows [start, end) as f32 values: a view for f32 storage, decoded into `scratch` for f16.
   * `scratch` must hold at least (end - start) * dims values.
   */
  rowsF32(start: number, end: number, scratch: Float32Array): Float32Array {
    const d = this.dims;
    if (this.data instanceof Float32Array) return this.data.subarray(start * d, end * d);
    const bits = this.data;
    const table = f16Table();
    const n = (end - start) * d;
    const base = start * d;
    for (let i = 0; i < n; i++) scratch[i] = table[bits[base + i]];
    return scratch.subarray(0, n);
  }

  private reserve(elements: number): void {
    if (elements <= this.data.length) return;
    const capacity = Math.max(elements, Math.ceil(this.data.length * 1.5), 1024);
    const next = this.dtype === 'f32' ? new Float32Array(capacity) : new Uint16Array(capacity);
    next.set(this.data.subarray(0, this.size * this.dims));
    this.data = next;
  }
}
