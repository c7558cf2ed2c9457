/**
 * The loader's quantizer: rows of a checkpoint matrix, straight from its F32 / F16 / BF16 bytes, into
 * the q8 / q4 / nf4 words of docs/quantization.md, bit for bit what @llara/kernels' `quantizeRow`
 * and the plain-loop reference (`quantizeMatrixRef`) give (quantize-rows.test.ts compares them).
 *
 * The function is self-contained on purpose (no imports, no outer variables): quantize-pool.ts ships
 * its source text to worker threads (`fn.toString()`), so the threads and the single-threaded path
 * run the same code under any bundler. It returns an error sentence instead of throwing, for the same
 * reason.
 *
 * ```ts
 * const rw = quantRowWords('q4', cols);
 * const out = new Uint32Array(rows * rw);
 * const err = quantizeRows('q4', 'F16', bytes, 0, rows, cols, out, 0);   // null when all went well
 * ```
 */
export function quantizeRows(
  format: 'q8' | 'q4' | 'nf4',
  dtype: 'F32' | 'F16' | 'BF16',
  /** The tensor's bytes (little-endian values, row-major), from its first row. */
  bytes: Uint8Array,
  /** First row to quantize, and how many. */
  row0: number,
  rows: number,
  cols: number,
  /** Receives rows [row0, row0 + rows) at word `dstRow0Word` (every word written; need not be zero). */
  dst: Uint32Array,
  dstRow0Word: number,
): string | null {
  const bs = format === 'nf4' ? 64 : 32;
  const bits = format === 'q8' ? 8 : 4;
  const qmax = format === 'q8' ? 127 : format === 'q4' ? 7 : 0;
  const zeroCode = format === 'q8' ? 0 : format === 'q4' ? 8 : 7;
  const blocks = Math.ceil(cols / bs);
  const codeWords = (blocks * bs * bits) / 32;
  const rowWords = codeWords + Math.ceil(blocks / 2);
  // QLoRA's NF4 levels (docs/quantization.md) as f32, and the decision thresholds between neighbours
  // (a sum of two f32 halved: exact in f64).
  const levels = Float32Array.from([
    -1, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1,
  ]);
  const mid = new Float64Array(15);
  for (let i = 0; i < 15; i++) mid[i] = (levels[i] + levels[i + 1]) / 2;
  const [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14] = mid;
  // f32 <-> bits through one shared word.
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  /** f16 bits of x (an f32 value): round to nearest even, as @llara/gpu's f32ToF16Bits. */
  const toHalf = (x: number): number => {
    f32[0] = x;
    const b = u32[0];
    const sign = (b >>> 16) & 0x8000;
    const exp = (b >>> 23) & 0xff;
    let mant = b & 0x7fffff;
    if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
    let e = exp - 127 + 15;
    if (e >= 0x1f) return sign | 0x7c00;
    if (e <= 0) {
      if (e < -10) return sign;
      mant |= 0x800000;
      const shift = 14 - e;
      const half = 1 << (shift - 1);
      let m = mant >>> shift;
      const rest = mant & ((1 << shift) - 1);
      if (rest > half || (rest === half && m & 1)) m++;
      return sign | m;
    }
    let m = mant >>> 13;
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
      m++;
      if (m === 0x400) {
        m = 0;
        e++;
        if (e >= 0x1f) return sign | 0x7c00;
      }
    }
    return sign | (e << 10) | m;
  };
  /** The value of non-negative f16 bits h (a scale: amax or amax / qmax rounded, maybe +inf). */
  const fromHalf = (h: number): number => {
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0x1f) return m ? Number.NaN : Number.POSITIVE_INFINITY;
    return e === 0 ? m * 2 ** -24 : (1024 + m) * 2 ** (e - 25);
  };
  // The source as values: f32 directly; f16 through a table of all 65536 patterns; bf16 by shifting.
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  const n = (row0 + rows) * cols;
  const srcF32 = dtype === 'F32' ? new Float32Array(aligned.buffer, aligned.byteOffset, n) : null;
  const srcU16 = dtype === 'F32' ? null : new Uint16Array(aligned.buffer, aligned.byteOffset, n);
  let table: Float32Array | null = null;
  if (dtype === 'F16') {
    table = new Float32Array(65536);
    const tu = new Uint32Array(table.buffer);
    for (let h = 0; h < 65536; h++) {
      const s = (h & 0x8000) << 16;
      const e = (h >>> 10) & 0x1f;
      const m = h & 0x3ff;
      if (e === 0x1f) tu[h] = s | 0x7f800000 | (m << 13);
      else if (e === 0) table[h] = (h & 0x8000 ? -m : m) * 2 ** -24;
      else tu[h] = s | ((e + 112) << 23) | (m << 13);
    }
  }
  const row = new Float32Array(cols);
  const rowBits = new Uint32Array(row.buffer);
  for (let r = 0; r < rows; r++) {
    const o = (row0 + r) * cols;
    if (srcF32) row.set(srcF32.subarray(o, o + cols));
    else if (table) for (let c = 0; c < cols; c++) row[c] = table[srcU16![o + c]];
    else for (let c = 0; c < cols; c++) rowBits[c] = srcU16![o + c] << 16;
    const base = dstRow0Word + r * rowWords;
    // Every code word is stored whole below; the scale words are OR-ed in pairs, so they start at 0
    // (dst may be reused memory).
    dst.fill(0, base + codeWords, base + rowWords);
    for (let b = 0; b < blocks; b++) {
      const start = b * bs;
      const end = Math.min(cols, start + bs);
      let amax = 0;
      let bad = 0;
      for (let c = start; c < end; c++) {
        const x = row[c];
        bad += x * 0; // NaN for NaN and infinities only
        amax = Math.max(amax, Math.abs(x)); // branch-free: random signs would mispredict
      }
      if (bad !== 0)
        for (let c = start; c < end; c++)
          if (!Number.isFinite(row[c]))
            return `row ${row0 + r}: cannot quantize the non-finite value ${row[c]} (column ${c})`;
      // The scale is computed in f64, rounded to f32 and then f16; codes are against the rounded scale.
      const scaleBits = format === 'nf4' ? toHalf(amax) : toHalf(amax / qmax);
      const scale = fromHalf(scaleBits);
      if (scale !== 0) dst[base + codeWords + (b >> 1)] |= scaleBits << ((b & 1) * 16);
      let w = base + (start * bits) / 32;
      if (scale === 0) {
        // A zero block: the zero code everywhere, padding included.
        const zeroWord = bits === 8 ? 0 : zeroCode * 0x11111111;
        for (let k = 0; k < (bs * bits) / 32; k++) dst[w + k] = zeroWord;
        continue;
      }
      if (end - start < bs) {
        // The row's partial last block: value by value, padding past the last column.
        for (let c0 = start; c0 < start + bs; c0 += 32 / bits, w++) {
          let word = 0;
          for (let k = 0, c = c0; k < 32 / bits; k++, c++) {
            let code = zeroCode;
            if (c < end) {
              const v = row[c] / scale;
              if (format === 'nf4') {
                code = v > mid[7] ? 8 : 0;
                if (v > mid[code + 3]) code += 4;
                if (v > mid[code + 1]) code += 2;
                if (v > mid[code]) code += 1;
              } else {
                let q = v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5); // halves away from zero
                if (q > qmax) q = qmax;
                else if (q < -qmax) q = -qmax;
                code = bits === 8 ? q & 0xff : q + 8;
              }
            }
            word |= code << (k * bits);
          }
          dst[w] = word;
        }
        continue;
      }
      // Full blocks: one loop per format, a code word at a time (the hot path of a 7B load).
      if (format === 'q8') {
        for (let c = start; c < end; c += 4, w++) {
          let word = 0;
          for (let k = 0; k < 4; k++) {
            const v = row[c + k] / scale;
            // |v| <= qmax + a rounding step, so truncating a non-negative value is Math.floor.
            let q = v < 0 ? -((0.5 - v) | 0) : (v + 0.5) | 0;
            if (q > 127) q = 127;
            else if (q < -127) q = -127;
            word |= (q & 0xff) << (k * 8);
          }
          dst[w] = word;
        }
      } else if (format === 'q4') {
        for (let c = start; c < end; c += 8, w++) {
          let word = 0;
          for (let k = 0; k < 8; k++) {
            const v = row[c + k] / scale;
            // |v| <= qmax + a rounding step, so truncating a non-negative value is Math.floor.
            let q = v < 0 ? -((0.5 - v) | 0) : (v + 0.5) | 0;
            if (q > 7) q = 7;
            else if (q < -7) q = -7;
            word |= (q + 8) << (k * 4);
          }
          dst[w] = word;
        }
      } else {
        for (let c = start; c < end; c += 8, w++) {
          let word = 0;
          for (let k = 0; k < 8; k++) {
            const v = row[c + k] / scale;
            // The number of thresholds below v, as 15 compares without branches (a binary search
            // mispredicts on real weights and costs 3x as much).
            const code =
              +(v > m0) +
              +(v > m1) +
              +(v > m2) +
              +(v > m3) +
              +(v > m4) +
              +(v > m5) +
              +(v > m6) +
              +(v > m7) +
              +(v > m8) +
              +(v > m9) +
              +(v > m10) +
              +(v > m11) +
              +(v > m12) +
              +(v > m13) +
              +(v > m14);
            word |= code << (k * 4);
          }
          dst[w] = word;
        }
      }
    }
  }
  return null;
}
