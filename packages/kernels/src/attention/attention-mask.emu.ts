/**
 * attention-mask.wgsl on the CPU, for the tensor-core kernels' emulations: the per-sequence mask, the
 * key range of a query tile and the block-rule tile skip, as the WGSL functions compute them.
 */
export interface EmuSeqMask {
  vs: number;
  ve: number;
  a0: number;
  a1: number;
  b0: number;
  b1: number;
  /** Whether valid query slot i sees valid key slot j. */
  sees(i: number, j: number): boolean;
}

/** seq_mask(b) of a mask table (see gpu-mask.ts), with `sees` for the given causality. */
export function emuSeqMask(table: Int32Array, b: number, causal: boolean): EmuSeqMask {
  const [vs, ve, a0, a1, b0, b1] = table.subarray(6 * b, 6 * b + 6);
  const sees = (i: number, j: number) => (!causal || j <= i) && !(i >= b0 && i < b1 && j >= a0 && j < a1);
  return { vs, ve, a0, a1, b0, b1, sees };
}

/** query_tile: the keys [m.vs, kEnd) rows [i0, i0 + rows) may see, and whether all are in block B. */
export function emuQueryTile(m: EmuSeqMask, causal: boolean, i0: number, rows: number) {
  const r0 = Math.max(i0, m.vs);
  const r1 = Math.min(i0 + rows, m.ve);
  let kEnd = m.ve;
  if (causal) kEnd = Math.min(kEnd, r1);
  if (r1 <= r0) kEnd = m.vs;
  return { kEnd, rowsInB: r0 >= m.b0 && r1 <= m.b1 };
}

/** skips_keys: the key tile [t0, t1) is invisible to every row of the query tile. */
export function emuSkipsKeys(qt: { rowsInB: boolean }, m: EmuSeqMask, t0: number, t1: number): boolean {
  return qt.rowsInB && t0 >= m.a0 && t1 <= m.a1;
}
