// Largest |x| over n f32 values, into one atomic u32 holding its bit pattern: for non-negative floats
// the bit patterns order like the values, so atomicMax on them is a float max (NaN, whose bits are
// above +Inf's, wins and propagates). The result must be zeroed before the first dispatch; several
// dispatches may accumulate into it. Each workgroup reduces a strided run of elements in workgroup
// memory, then one atomic per workgroup.
struct Params {
  n: u32,
  nx: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> result: array<atomic<u32>>;

override WG: u32 = 256u;
const PER = 8u; // elements per invocation

var<workgroup> red: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = (wid.x + wid.y * p.nx) * WG * PER;
  var m = 0u;
  for (var j = 0u; j < PER; j++) {
    let i = base + j * WG + lid;
    if (i < p.n) {
      m = max(m, bitcast<u32>(abs(x[i])));
    }
  }
  red[lid] = m;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] = max(red[lid], red[lid + s]);
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    atomicMax(&result[0], red[0]);
  }
}
