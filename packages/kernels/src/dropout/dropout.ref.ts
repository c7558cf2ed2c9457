/**
 * Inverted dropout in plain TS, bit-identical to dropout.wgsl: element i is kept when
 * `dropoutHash(seed, offset + i) >= floor(p * 2^32)` and becomes `fround(x[i] * fround(1 / (1 - p)))`.
 */

/** PCG-RXS-M-XS 32-bit output permutation on u32 (Jarzynski & Olano 2020). */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** The u32 that decides whether element `counter` survives under `seed`. */
export function dropoutHash(seed: number, counter: number): number {
  return pcgHash((pcgHash(counter >>> 0) ^ pcgHash(seed >>> 0)) >>> 0);
}

/** The kernel's integer threshold and f32 scale for drop probability `p` (0 <= p <= 1). */
export function dropoutConstants(p: number): { threshold: number; scale: number; dropAll: boolean } {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: p must be in [0, 1], got ${p}.`);
  if (p === 1) return { threshold: 0xffffffff, scale: 0, dropAll: true };
  return {
    threshold: Math.min(Math.floor(p * 2 ** 32), 0xffffffff),
    scale: Math.fround(1 / (1 - p)),
    dropAll: false,
  };
}

export function dropoutRef(
  x: ArrayLike<number>,
  o: { p: number; seed: number; offset?: number },
): Float32Array {
  const { threshold, scale, dropAll } = dropoutConstants(o.p);
  const offset = o.offset ?? 0;
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const keep = !dropAll && dropoutHash(o.seed, offset + i) >= threshold;
    y[i] = keep ? Math.fround(x[i] * scale) : 0;
  }
  return y;
}
