// Fills buf f32 [n] with zeros (accumulators are tiny: one workgroup loops).

struct Params {
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> buf: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32) {
  for (var i = lid; i < p.n; i += 64u) {
    buf[i] = 0.0;
  }
}
