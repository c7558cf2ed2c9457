/** CPU references of absmax.wgsl and scale-pow2.wgsl. */

/** max |x| (NaN if any element is NaN; 0 for an empty array). */
export function absMaxRef(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]);
    if (Number.isNaN(a)) return Number.NaN;
    if (a > m) m = a;
  }
  return m;
}

/** 2^ceil(log2(m)) for m >= 0 as scale-pow2.wgsl computes it: 1 for 0, within [2^-126, 2^127]. */
export function pow2ScaleRef(m: number): number {
  if (Number.isNaN(m)) return Number.NaN;
  if (m === 0) return 1;
  const e = Math.ceil(Math.log2(m));
  // log2 of a float just above a power of two can round down to the integer: check against m itself.
  const exp = 2 ** e >= m ? e : e + 1;
  return 2 ** Math.min(127, Math.max(-126, exp));
}
