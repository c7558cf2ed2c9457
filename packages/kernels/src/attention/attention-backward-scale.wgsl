// The dOut scale of the tensor-core attention backward, one workgroup per kv head g:
//   stats[3 * NH * B*T + g] = max over the group's heads and every row of amax (1 when all are 0),
// so that dOut / scale lies in [-1, 1] and survives rounding to f16 (the gradients are multiplied
// back by the scale in f32). stats layout: attention-backward-stats.wgsl.

struct Params {
  rows: u32, // B*T
  nh: u32,
  nkv: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;

var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let group = p.nh / p.nkv;
  let count = p.nh * p.rows;
  var m = 0.0;
  for (var e = lid; e < group * p.rows; e += 64u) {
    m = max(m, stats[2u * count + g * group * p.rows + e]);
  }
  red[lid] = m;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] = max(red[lid], red[lid + s]);
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    stats[3u * count + g] = select(1.0, red[0], red[0] > 0.0);
  }
}
