import type { SubgroupMatrixTile } from './matmul-subgroup-matrix.ts';

/** Options of `matmul` and its reference; see matmul.ts for the layouts. */
export interface MatmulOptions {
  M: number;
  N: number;
  K: number;
  /** A stored [K, M] and used transposed. */
  transA?: boolean;
  /** B stored [N, K] (HF weights [out, in]) and used transposed; false: B stored [K, N]. */
  transB?: boolean;
  /** Scale of the product (default 1). */
  alpha?: number;
  /** 1 adds the product to C, 0 (default) overwrites C without reading it. */
  beta?: 0 | 1;
  /**
   * Force a kernel family (tests, benchmarks): 'gemv' (transB only), 'reg4x4', 'tiled64', 'tiled128' or
   * 'subgroup-matrix'. Without it the best family the device and shape allow is used.
   */
  variant?: string;
  /**
   * 'f32' forbids rounding A to f16 (the subgroup-matrix path does that); use it where A holds values
   * f16 cannot represent, such as small gradients. Default 'f16': allowed.
   */
  precision?: 'f16' | 'f32';
  /** Workgroup tiling of the subgroup-matrix kernel (tuning sweeps); default `SUBGROUP_MATRIX_TILE`. */
  smTile?: SubgroupMatrixTile;
}

/** Row/column counts of A and B as stored (row-major; `cols` is the contiguous dimension). */
export function storedShapes(o: MatmulOptions): { ra: number; ca: number; rb: number; cb: number } {
  return {
    ra: o.transA ? o.K : o.M,
    ca: o.transA ? o.M : o.K,
    rb: o.transB ? o.N : o.K,
    cb: o.transB ? o.K : o.N,
  };
}

/**
 * Workgroup grid for `tilesX` x `tilesY` output tiles. The y dimension folds into z when it exceeds the
 * per-dimension limit; kernels recover the tile row as `wid.y + wid.z * foldY` (foldY goes in Params).
 */
export function tileGrid(
  tilesX: number,
  tilesY: number,
  maxPerDim: number,
  label: string,
): { workgroups: [number, number, number]; foldY: number } {
  if (tilesX > maxPerDim) {
    throw new Error(`${label}: ${tilesX} column tiles exceed ${maxPerDim} workgroups per dimension`);
  }
  if (tilesY <= maxPerDim) return { workgroups: [tilesX, tilesY, 1], foldY: tilesY };
  const z = Math.ceil(tilesY / maxPerDim);
  const y = Math.ceil(tilesY / z);
  return { workgroups: [tilesX, y, z], foldY: y };
}

/** One dispatch's share of the output: tile rows [row0, row0 + rows) x tile columns [col0, col0 + cols). */
export interface TileChunk {
  row0: number;
  rows: number;
  col0: number;
  cols: number;
}

/**
 * Splits a `tilesY` x `tilesX` grid of output tiles into dispatches of at most `maxTiles` tiles each
 * (whole tile rows while a row fits, else pieces of one row), so a 7B-sized product never becomes one
 * dispatch long enough for an OS watchdog to reset the GPU. Rows wider than `maxCols` (the workgroups
 * per dimension) are cut into pieces too. One chunk when everything fits.
 */
export function tileChunks(
  tilesX: number,
  tilesY: number,
  maxTiles: number,
  maxCols = Infinity,
): TileChunk[] {
  const budget = Math.max(1, Math.floor(maxTiles));
  const out: TileChunk[] = [];
  if (tilesX <= Math.min(budget, maxCols)) {
    const rows = Math.floor(budget / tilesX);
    for (let r = 0; r < tilesY; r += rows)
      out.push({ row0: r, rows: Math.min(rows, tilesY - r), col0: 0, cols: tilesX });
    return out;
  }
  const width = Math.min(budget, maxCols);
  for (let r = 0; r < tilesY; r++)
    for (let c = 0; c < tilesX; c += width)
      out.push({ row0: r, rows: 1, col0: c, cols: Math.min(width, tilesX - c) });
  return out;
}

/** Output tiles one dispatch may hold: each tile costs 2 * tileM * tileN * K flops. */
export function maxTilesPerDispatch(maxFlops: number, tileM: number, tileN: number, K: number): number {
  return maxFlops / (2 * tileM * tileN * Math.max(K, 1));
}
