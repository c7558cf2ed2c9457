// Copies a block of columns between two row-major f32 matrices, one element per invocation; the grid
// folds past 65,535 workgroups: i = (wid.x + wid.y * nx) * WG + lid, over n = rows * cols elements.
//   dst[r, dstCol0 + c] (+)= src[r, srcCol0 + c]   for r < rows, c < cols
// src has srcStride columns, dst dstStride. ACCUMULATE adds instead of overwriting.
struct Params {
  n: u32,
  cols: u32,
  srcStride: u32,
  srcCol0: u32,
  dstStride: u32,
  dstCol0: u32,
  nx: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * p.nx) * WG + lid;
  if (i >= p.n) {
    return;
  }
  let r = i / p.cols;
  let c = i % p.cols;
  let o = r * p.dstStride + p.dstCol0 + c;
  let v = src[r * p.srcStride + p.srcCol0 + c];
#if ACCUMULATE
  dst[o] += v;
#else
  dst[o] = v;
#endif
}
