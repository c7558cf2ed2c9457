/**
 * Fast deterministic random inputs for benchmarks and device checks: 7B-shaped operands hold tens of
 * millions of values, so they are drawn with xorshift32 (a few ns per value) rather than through
 * per-value float conversions.
 */

/** xorshift32 stream of u32s (seed 0 is replaced by 1: xorshift has no zero state). */
export function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** `n` f32 values uniform in [lo, hi). */
export function randomF32(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const next = xorshift32(seed);
  const out = new Float32Array(n);
  const scale = (hi - lo) / 4294967296;
  for (let i = 0; i < n; i++) out[i] = lo + next() * scale;
  return out;
}

/**
 * `n` random f16 bit patterns with |value| < 2 (the top exponent bit cleared: no Inf or NaN), two per
 * 32-bit draw. For timing only: the values are spread over every binade, including subnormals.
 */
export function randomF16Bits(n: number, seed: number): Uint16Array {
  const out = new Uint16Array(n + (n & 1));
  const words = new Uint32Array(out.buffer);
  const next = xorshift32(seed);
  for (let i = 0; i < words.length; i++) words[i] = next() & 0xbfffbfff;
  return n & 1 ? out.subarray(0, n) : out;
}

/** Random token ids in [lo, hi). */
export function randomIds(n: number, seed: number, lo: number, hi: number): Int32Array {
  const next = xorshift32(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (next() % (hi - lo));
  return out;
}
