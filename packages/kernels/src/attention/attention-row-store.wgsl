// Instantiated per storage array by rowAccess (attention-rows.ts): NAME and ARRAY become the function
// and the array. Used by the f32 attention kernels.
// Stores chunk c of the row starting at `base`: all of a full chunk, part of a last partial one,
// nothing for a padding chunk (c >= HD4).
fn NAME(base: u32, c: u32, x: vec4f) {
  let d = base + 4u * c;
  if (4u * c + 3u < HD) {
    ARRAY[d] = x.x;
    ARRAY[d + 1u] = x.y;
    ARRAY[d + 2u] = x.z;
    ARRAY[d + 3u] = x.w;
    return;
  }
  if (4u * c < HD) {
    ARRAY[d] = x.x;
  }
  if (4u * c + 1u < HD) {
    ARRAY[d + 1u] = x.y;
  }
  if (4u * c + 2u < HD) {
    ARRAY[d + 2u] = x.z;
  }
}
