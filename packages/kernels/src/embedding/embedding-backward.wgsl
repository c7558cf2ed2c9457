// Embedding gradient for a block of trainable rows, without float atomics: each workgroup owns WG
// columns of one row r and loops over all T tokens in order (deterministic sums). Workgroups are
// numbered g = wid.x + wid.y * nx (folded past 65,535); r = g / col_blocks.
// ids: i32 [T]; dout: f32 [T, D]; drows: f32 [R, D] row-major (D contiguous).
//   drows[r, d] += sum over t with ids[t] == first_row + r of dout[t, d]
// Cost O(R * T * D): meant for a few rows (LLaRA's added special tokens), not a whole vocabulary.
struct Params {
  T: u32,
  D: u32,
  R: u32,
  first_row: i32,
  col_blocks: u32,
  nx: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read_write> drows: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * p.nx;
  let r = g / p.col_blocks;
  let d = (g % p.col_blocks) * WG + lid;
  if (r >= p.R || d >= p.D) {
    return;
  }
  let target_id = p.first_row + i32(r);
  var acc = 0.0;
  var hit = false;
  for (var t = 0u; t < p.T; t++) {
    if (ids[t] == target_id) {
      acc += dout[t * p.D + d];
      hit = true;
    }
  }
  if (hit) {
    drows[r * p.D + d] += acc;
  }
}
