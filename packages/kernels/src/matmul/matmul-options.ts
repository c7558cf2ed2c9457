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
   * Force a kernel family (tests, benchmarks): 'reg4x4', 'tiled64', 'tiled128' or 'subgroup-matrix'.
   * Without it the best family the device and shape allow is used.
   */
  variant?: string;
  /**
   * 'f32' forbids rounding A to f16 (the subgroup-matrix path does that); use it where A holds values
   * f16 cannot represent, such as small gradients. Default 'f16': allowed.
   */
  precision?: 'f16' | 'f32';
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
