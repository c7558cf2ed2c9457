/**
 * Host-side layout helpers shared by the peers: the model's [B*T, heads*D] rows to the head-major
 * [B, heads, T, D] that batched-matmul compositions want, back again, and the additive causal mask.
 *
 * ```ts
 * const qh = toHeadMajor(q, B, T, H, D);
 * ```
 */

/** [B*T, heads*D] (ours) -> [B, heads, T, D] (head-major), on the host. */
export function toHeadMajor(x: Float32Array, B: number, T: number, heads: number, D: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < heads; h++) {
        const src = ((b * T + t) * heads + h) * D;
        const dst = ((b * heads + h) * T + t) * D;
        out.set(x.subarray(src, src + D), dst);
      }
  return out;
}

/** [B, heads, T, D] -> [B*T, heads*D]. */
export function fromHeadMajor(x: Float32Array, B: number, T: number, heads: number, D: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < heads; h++)
      for (let t = 0; t < T; t++) {
        const src = ((b * heads + h) * T + t) * D;
        const dst = ((b * T + t) * heads + h) * D;
        out.set(x.subarray(src, src + D), dst);
      }
  return out;
}

/** Additive causal mask [T, T]: 0 where key <= query, a large negative number elsewhere. */
export function causalMaskValues(T: number): Float32Array {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -1e9;
  return m;
}

/**
 * Why a composed attention cannot run here (its [B, H, T, T] f32 scores exceed one storage binding of
 * the device, as at 7B shapes in a browser's 128 MiB), or null.
 */
export function scoresTooLarge(
  limits: { maxStorageBufferBindingSize: number },
  s: { B: number; H: number; T: number },
): string | null {
  const bytes = s.B * s.H * s.T * s.T * 4;
  const max = limits.maxStorageBufferBindingSize;
  if (bytes <= max) return null;
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  return `skipped: the composed attention's scores (${mib(bytes)}) exceed the device's largest storage binding (${mib(max)})`;
}
