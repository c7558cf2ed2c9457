// Splitting one row's head dim over LANES adjacent invocations (appended to each attention kernel).
// A row is HD4 vec4 chunks, padded with zero chunks to HD4P = CHUNKS * LANES; lane `lane` owns chunks
// c = cl * LANES + lane for cl < CHUNKS. A dot product over the head dim is a per-lane partial sum
// reduced across the row's lanes by shuffles. LANES = 1 (the plain variant) needs no subgroups;
// LANES > 1 needs LANES <= the subgroup size, so a row's lanes always share a subgroup.
//
// Loops over keys (or queries) are uniform across the workgroup and masking is arithmetic
// (`select`), never `continue`: shuffles then run in uniform control flow, and workgroup-memory reads
// have uniform addresses (llvmpipe turns divergent ones into per-lane gathers).

fn chunk(cl: u32, lane: u32) -> u32 {
  return cl * LANES + lane;
}

#if UNROLL
fn chunk_count() -> u32 {
  return CHUNKS;
}
#else
// Chunk loops stop at a uniform value equal to CHUNKS, so drivers keep a row's arrays in memory
// instead of unrolling them into registers: llvmpipe needs many seconds to compile 16 unrolled vec4
// chunks per array, and a GPU would spill that many registers anyway.
fn chunk_count() -> u32 {
  return p.chunks;
}
#endif

#if SUBGROUPS
fn row_sum(x: f32) -> f32 {
  var r = x;
  for (var o = LANES / 2u; o > 0u; o >>= 1u) {
    r += subgroupShuffleXor(r, o);
  }
  return r;
}

fn row_sum2(x: vec2f) -> vec2f {
  var r = x;
  for (var o = LANES / 2u; o > 0u; o >>= 1u) {
    r += subgroupShuffleXor(r, o);
  }
  return r;
}
#else
fn row_sum(x: f32) -> f32 {
  return x;
}

fn row_sum2(x: vec2f) -> vec2f {
  return x;
}
#endif

fn hsum(x: vec4f) -> f32 {
  return (x.x + x.y) + (x.z + x.w);
}
