// Per (head, row) statistics the attention backward kernels read, in one buffer so that the dK/dV
// kernel stays within 8 storage bindings: stats = [lse (copied) | D | amax], each f32 [NH, B*T], with
// D[h, r] = dOut[r, h] . out[r, h] (= sum_j p_j dp_j, the softmax backward's row term) and
// amax[h, r] = max |dOut[r, h]| (the tensor-core kernels scale dOut by its maximum before rounding it
// to f16; see attention-backward-scale.wgsl).
// The wrapper appends `const HD: u32`.

struct Params {
  rows: u32,
  nh: u32,
  nx: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> out: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  // One invocation per (head, row), head-major like lse.
  let n = (wid.x + wid.y * p.nx) * 64u + lid;
  let count = p.nh * p.rows;
  if (n >= count) {
    return;
  }
  let h = n / p.rows;
  let r = n % p.rows;
  let base = r * p.nh * HD + h * HD;
  var d = 0.0;
  var amax = 0.0;
  for (var e = 0u; e < HD; e++) {
    d = fma(dout[base + e], out[base + e], d);
    amax = max(amax, abs(dout[base + e]));
  }
  stats[n] = lse[n];
  stats[count + n] = d;
  stats[2u * count + n] = amax;
}
