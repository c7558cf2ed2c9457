/**
 * Which keys each query may attend to, described rather than materialised (no T x T tensor).
 *
 * Layout: `batch` sequences of `seqLen` slots each (tokens row-major as [batch * seqLen, ...]).
 * Query slot i of sequence b sees key slot j of the same sequence iff
 *   - validStart[b] <= j < validEnd[b]   (padding; left padding has validStart > 0), and
 *   - j <= i                             (if `causal`), and
 *   - not (blockB[b] contains i and blockA[b] contains j)  (LLaRA's rule: the EBAR suffix rows must
 *     not see the EBAE suffix columns), when `block` is given.
 * A query row that sees no key (a padding row) outputs zeros and receives no gradient.
 */
export interface MaskDescription {
  batch: number;
  seqLen: number;
  causal: boolean;
  /** [batch] first valid slot of each sequence. */
  validStart: Int32Array;
  /** [batch] one past the last valid slot. */
  validEnd: Int32Array;
  /** Optional, per sequence [aStart, aEnd, bStart, bEnd] (slots), flattened to [batch * 4]; an empty range disables it. */
  block?: Int32Array;
}

/** Whether query slot `i` of sequence `b` may see key slot `j` (the reference for every kernel). */
export function maskAllows(m: MaskDescription, b: number, i: number, j: number): boolean {
  if (j < m.validStart[b] || j >= m.validEnd[b]) return false;
  if (i < m.validStart[b] || i >= m.validEnd[b]) return false;
  if (m.causal && j > i) return false;
  if (m.block) {
    const [aS, aE, bS, bE] = [m.block[4 * b], m.block[4 * b + 1], m.block[4 * b + 2], m.block[4 * b + 3]];
    if (i >= bS && i < bE && j >= aS && j < aE) return false;
  }
  return true;
}

/** A dense [batch, seqLen, seqLen] 0/1 mask, for references and tests only. */
export function denseMask(m: MaskDescription): Uint8Array {
  const T = m.seqLen;
  const out = new Uint8Array(m.batch * T * T);
  for (let b = 0; b < m.batch; b++)
    for (let i = 0; i < T; i++)
      for (let j = 0; j < T; j++) out[(b * T + i) * T + j] = maskAllows(m, b, i, j) ? 1 : 0;
  return out;
}

/** Causal mask for equal-length (or right/left padded) sequences; `lengths` are valid token counts. */
export function paddedCausalMask(
  seqLen: number,
  lengths: number[],
  padding: 'left' | 'right',
): MaskDescription {
  const batch = lengths.length;
  const validStart = new Int32Array(batch);
  const validEnd = new Int32Array(batch);
  lengths.forEach((len, b) => {
    validStart[b] = padding === 'left' ? seqLen - len : 0;
    validEnd[b] = padding === 'left' ? seqLen : len;
  });
  return { batch, seqLen, causal: true, validStart, validEnd };
}
