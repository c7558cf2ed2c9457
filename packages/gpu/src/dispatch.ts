/**
 * Workgroup counts for a 1-D range of `count` items, folded into 2-D when it would exceed the
 * per-dimension limit (65,535 by default). Kernels recover the flat index as `wid.x + wid.y * nx`
 * where `nx` is the returned x count (pass it in Params).
 */
export function grid1d(count: number, perGroup: number, maxPerDim = 65535): [number, number] {
  const groups = Math.ceil(count / perGroup);
  if (groups <= maxPerDim) return [Math.max(groups, 1), 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}

/** Packs a uniform Params struct of u32/i32/f32 fields (each 4 bytes, in declaration order). */
export function params(fields: (number | { f32: number } | { i32: number })[]): Uint32Array {
  const n = Math.ceil(fields.length / 4) * 4;
  const out = new Uint32Array(Math.max(n, 4));
  const f = new Float32Array(out.buffer);
  const i32 = new Int32Array(out.buffer);
  fields.forEach((v, i) => {
    if (typeof v === 'number') out[i] = v >>> 0;
    else if ('f32' in v) f[i] = v.f32;
    else i32[i] = v.i32;
  });
  return out;
}

/**
 * Cuts `total` work items of about `flopsPerItem` each into consecutive ranges [first, end) of at most
 * `maxFlops` (at least one item each), one dispatch per range: see `Gpu.maxDispatchFlops`.
 */
export function flopChunks(
  total: number,
  flopsPerItem: number,
  maxFlops: number,
): { first: number; end: number }[] {
  const per = Math.max(1, Math.floor(maxFlops / Math.max(flopsPerItem, 1)));
  const out: { first: number; end: number }[] = [];
  for (let first = 0; first < total; first += per) out.push({ first, end: Math.min(total, first + per) });
  return out;
}
