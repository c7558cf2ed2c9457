// Instantiated per storage array by rowAccess (attention-rows.ts): NAME and ARRAY become the function
// and the array. Used by the f32 attention kernels.
// Chunk c (< HD4) of the row starting at `base`; a last partial chunk is zero-padded (indices are
// clamped to the row's last element, so nothing outside the row is read).
fn NAME(base: u32, c: u32) -> vec4f {
  let d = base + 4u * c;
  if (HD % 4u == 0u) {
    return vec4f(ARRAY[d], ARRAY[d + 1u], ARRAY[d + 2u], ARRAY[d + 3u]);
  }
  let n = HD - 4u * c;
  return vec4f(
    ARRAY[d],
    select(0.0, ARRAY[d + min(1u, n - 1u)], n > 1u),
    select(0.0, ARRAY[d + min(2u, n - 1u)], n > 2u),
    select(0.0, ARRAY[d + min(3u, n - 1u)], n > 3u),
  );
}
