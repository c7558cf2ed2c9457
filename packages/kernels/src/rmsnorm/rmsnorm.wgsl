// RMSNorm forward (LLaMA), one workgroup per row; needs row-sum.wgsl and common/weights.wgsl before it.
// x, y: f32 [T, D] row-major (D contiguous); W: [D] weight (f32, f16 or bf16, read through `wload`).
//   y[t, i] = w[i] * (x[t, i] * inverseSqrt(sum_j x[t, j]^2 / D + eps))
// in HF LlamaRMSNorm's order of operations. NaN/Inf in a row propagate as the formula says.
struct Params {
  T: u32,
  D: u32,
  nx: u32, // workgroups along x; row = wid.x + wid.y * nx
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<WElem>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(ids: Ids, @builtin(workgroup_id) wid: vec3u) {
  let row = wid.x + wid.y * p.nx;
  if (row >= p.T) {
    return;
  }
  let base = row * p.D;
  var ss = 0.0;
  for (var i = ids.lid; i < p.D; i += WG) {
    let v = x[base + i];
    ss += v * v;
  }
  let total = row_sum(vec2f(ss, 0.0), ids);
  let r = inverseSqrt(total.x / f32(p.D) + p.eps);
  for (var i = ids.lid; i < p.D; i += WG) {
    y[base + i] = wload(i) * (x[base + i] * r);
  }
}
