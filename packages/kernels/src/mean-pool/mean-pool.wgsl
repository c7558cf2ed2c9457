// Mean of `positions` gathered rows per group, and its backward; one invocation per output element.
// h, dh f32 [R, dim] row-major; rows i32 [groups * positions] (indices into h's rows, distinct);
// out, dout f32 [groups, dim].
// Forward:  out[g, d] = (1/P) * sum_p h[rows[g*P + p], d]
// Backward: dh[rows[g*P + p], d] += dout[g, d] / P   (accumulates: rows are distinct, so no races)
struct Params {
  groups: u32,
  positions: u32,
  dim: u32,
  nx: u32, // invocations along x (workgroups along x * 64); flat index = gid.x + gid.y * nx
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> rows: array<i32>;
#if BACKWARD
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read_write> dh: array<f32>;
#else
@group(0) @binding(2) var<storage, read> h: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#endif

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.nx;
#if BACKWARD
  // one invocation per (group, position, d)
  if (i >= p.groups * p.positions * p.dim) {
    return;
  }
  let gp = i / p.dim;
  let d = i % p.dim;
  let g = gp / p.positions;
  let r = u32(rows[gp]);
  dh[r * p.dim + d] += dout[g * p.dim + d] / f32(p.positions);
#else
  if (i >= p.groups * p.dim) {
    return;
  }
  let g = i / p.dim;
  let d = i % p.dim;
  var s = 0.0;
  for (var q = 0u; q < p.positions; q++) {
    s += h[u32(rows[g * p.positions + q]) * p.dim + d];
  }
  out[i] = s / f32(p.positions);
#endif
}
