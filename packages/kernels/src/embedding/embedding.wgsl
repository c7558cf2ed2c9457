// Embedding gather, one output element per invocation; needs common/weights.wgsl before it. The grid
// folds past 65,535 workgroups: i = (wid.x + wid.y * nx) * WG + lid.
// ids: i32 [T]; W: rows row0 .. row0 + V - 1 of the table [*, D] row-major (D contiguous), f32, f16,
// bf16 or block-quantized (q8, q4, nf4: dequantized on the fly); a table too large for one binding is
// split by rows and gathered part by part; out: f32 [T, D].
//   out[t, d] = W[ids[t] - row0, d]  if row0 <= ids[t] < row0 + V,  else 0 (or unchanged with keep)
struct Params {
  n: u32, // T * D
  D: u32,
  V: u32,
  nx: u32,
  row0: u32,
  // 1: leave rows of ids outside this part as they are (a later part of a split table).
  keep: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> W: array<WElem>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * p.nx) * WG + lid;
  if (i >= p.n) {
    return;
  }
  let id = ids[i / p.D];
  if (id >= 0 && u32(id) >= p.row0 && u32(id) - p.row0 < p.V) {
    out[i] = wloadRC(u32(id) - p.row0, i % p.D, p.D);
  } else if (p.keep == 0u) {
    out[i] = 0.0;
  }
}
