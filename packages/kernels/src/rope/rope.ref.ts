/**
 * CPU reference for rope.ts (the specification). The angle is f32(pos) * inv_freq rounded to f32, as
 * HF computes it; sin, cos and the rotation are f64. x: [T, numHeads * headDim] row-major.
 * `transpose` applies R^T (the backward pass).
 */
import { type RopeOptions, ropeInvFreq } from './inv-freq.ts';

export function ropeRef(
  x: ArrayLike<number>,
  positions: ArrayLike<number>,
  o: RopeOptions,
  transpose = false,
): Float64Array {
  const invFreq = ropeInvFreq(o);
  const { numHeads, headDim } = o;
  const half = headDim / 2;
  const T = positions.length;
  const out = Float64Array.from(x);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < numHeads; h++) {
      const base = (t * numHeads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(positions[t] * invFreq[i]);
        const c = Math.cos(angle);
        const s = (transpose ? -1 : 1) * Math.sin(angle);
        const x1 = x[base + i];
        const x2 = x[base + i + half];
        out[base + i] = x1 * c - x2 * s;
        out[base + i + half] = x2 * c + x1 * s;
      }
    }
  }
  return out;
}
