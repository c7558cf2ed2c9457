// RMSNorm input gradient (the weight is frozen), one workgroup per row; needs row-sum.wgsl and
// common/weights.wgsl before it. x, dy, dx: f32 [T, D] row-major (D contiguous); W: [D].
// With r = (sum_j x_j^2 / D + eps)^(-1/2) and y_i = w_i x_i r:
//   dx_i = r w_i dy_i - x_i r^3 (sum_j dy_j w_j x_j) / D        (dx = or +=, by `accumulate`)
// Both row sums come out of one reduction.
struct Params {
  T: u32,
  D: u32,
  nx: u32, // workgroups along x; row = wid.x + wid.y * nx
  eps: f32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<WElem>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(ids: Ids, @builtin(workgroup_id) wid: vec3u) {
  let row = wid.x + wid.y * p.nx;
  if (row >= p.T) {
    return;
  }
  let base = row * p.D;
  var acc = vec2f(0.0);
  for (var i = ids.lid; i < p.D; i += WG) {
    let v = x[base + i];
    acc += vec2f(v * v, dy[base + i] * wload(i) * v);
  }
  let total = row_sum(acc, ids);
  let r = inverseSqrt(total.x / f32(p.D) + p.eps);
  let c = r * r * r * total.y / f32(p.D);
  for (var i = ids.lid; i < p.D; i += WG) {
    var g = r * wload(i) * dy[base + i] - c * x[base + i];
    if (p.accumulate != 0u) {
      g += dx[base + i];
    }
    dx[base + i] = g;
  }
}
