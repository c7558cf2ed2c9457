/** CPU reference for swiglu.ts (the specification), in f64. All arrays flat, same length. */
const silu = (g: number) => g / (1 + Math.exp(-g));

export function swigluRef(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  return Float64Array.from(gate, (g, i) => silu(g) * up[i]);
}

/** d(sum dOut * out)/dgate and /dup: silu'(g) = s (1 + g (1 - s)) with s = sigmoid(g). */
export function swigluBackwardRef(
  gate: ArrayLike<number>,
  up: ArrayLike<number>,
  dOut: ArrayLike<number>,
): { dGate: Float64Array; dUp: Float64Array } {
  const dGate = new Float64Array(gate.length);
  const dUp = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i];
    const s = 1 / (1 + Math.exp(-g));
    dGate[i] = dOut[i] * up[i] * s * (1 + g * (1 - s));
    dUp[i] = dOut[i] * silu(g);
  }
  return { dGate, dUp };
}
