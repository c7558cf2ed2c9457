// out[index] = sum of x[0..n), by one workgroup (needs row-reduce.wgsl before it). Used to turn per-row
// losses into the few scalars a training step reads back.
struct Params {
  n: u32,
  index: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(ids: Ids) {
  reduce_init(ids);
  var s = 0.0;
  for (var i = ids.lid; i < p.n; i += WG) {
    s += x[i];
  }
  let total = wg_sum(s);
  if (ids.lid == 0u) {
    out[p.index] = total;
  }
}
