// Gather / scatter-add of selected rows, one element per invocation; the grid folds past 65,535
// workgroups: i = (wid.x + wid.y * nx) * WG + lid, over n = R * D elements.
// x, dx: f32 [T, D]; rows: i32 [R]; out, dout: f32 [R, D]; all row-major (D contiguous).
//   gather:          out[r, d] = x[rows[r], d]  (0 if rows[r] is outside [0, T))
//   SCATTER:         dx[rows[r], d] += dout[r, d]  (skipped outside [0, T); rows must be distinct,
//                    so no two invocations write one element)
struct Params {
  n: u32,
  D: u32,
  T: u32,
  nx: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
#if SCATTER
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> rows: array<i32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> rows: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#endif

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * p.nx) * WG + lid;
  if (i >= p.n) {
    return;
  }
  let row = rows[i / p.D];
  let valid = row >= 0 && u32(row) < p.T;
  let j = u32(row) * p.D + i % p.D;
#if SCATTER
  if (valid) {
    dx[j] += dout[i];
  }
#else
  var v = 0.0;
  if (valid) {
    v = x[j];
  }
  out[i] = v;
#endif
}
