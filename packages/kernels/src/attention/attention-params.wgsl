// The uniform Params of every attention kernel but the stats one (appended to each; filled by
// attentionParams in attention-config.ts).
struct Params {
  batch: u32,
  seq: u32,
  nh: u32,
  nkv: u32,
  scale: f32,
  causal: u32,
  // Query tiles per (sequence, head), or key tiles per (sequence, kv head) in the dK/dV kernel;
  // workgroups are flattened (tile, head, sequence) and folded.
  tiles: u32,
  nx: u32,
  // CHUNKS again, as a value the compiler cannot unroll by (see chunk_count; the tensor-core forward
  // ignores it).
  chunks: u32,
  // This dispatch's flattened workgroups [first, end): large grids are split over several dispatches
  // so none runs long enough to trip an OS watchdog (see flopChunks).
  first: u32,
  end: u32,
  // -Infinity, the logsumexp of a row that sees no key (WGSL has no Inf literal); forward only.
  neg_inf: f32,
}
