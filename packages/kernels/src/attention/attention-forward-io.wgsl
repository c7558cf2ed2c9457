// Params and bindings of both attention forward kernels: attention-forward.wgsl (f32) and
// attention-forward-subgroup-matrix.wgsl (f16 tensor cores, which ignores `chunks`). The wrappers
// fill Params with attentionParams (attention-config.ts).
struct Params {
  batch: u32,
  seq: u32,
  nh: u32,
  nkv: u32,
  scale: f32,
  causal: u32,
  // Query tiles per (sequence, head); workgroups are flattened (tile, head, sequence) and folded.
  tiles: u32,
  nx: u32,
  // CHUNKS again, as a value the compiler cannot unroll by (see chunk_count).
  chunks: u32,
  // This dispatch's flattened workgroups [first, end): large grids are split over several dispatches
  // so none runs long enough to trip an OS watchdog (see flopChunks).
  first: u32,
  end: u32,
  // -Infinity, the logsumexp of a row that sees no key (WGSL has no Inf literal).
  neg_inf: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> mask_table: array<i32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
