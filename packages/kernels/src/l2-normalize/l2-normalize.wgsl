// Row L2 normalisation and its backward, one workgroup per row (needs row-reduce.wgsl before it).
// x, y, dy, dx: f32 [rows, dim] row-major.
// Forward:  y = x / c,  c = max(||x||, EPS)   (torch.nn.functional.normalize).
// Backward: dx = (dy - y * <dy, y>) / ||x||  when ||x|| > EPS, else dy / EPS (c is then the constant
// EPS), which is the exact gradient of the forward; x is re-read rather than y kept.
const EPS: f32 = 1e-12;

struct Params {
  rows: u32,
  dim: u32,
  nx: u32, // workgroups along x; row = wid.x + wid.y * nx
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
#if BACKWARD
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
#else
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
#endif

@compute @workgroup_size(WG)
fn main(ids: Ids, @builtin(workgroup_id) wid: vec3u) {
  reduce_init(ids);
  let row = wid.x + wid.y * p.nx;
  if (row >= p.rows) {
    return;
  }
  let base = row * p.dim;
  var ss = 0.0;
  for (var i = ids.lid; i < p.dim; i += WG) {
    let v = x[base + i];
    ss += v * v;
  }
  let norm = sqrt(wg_sum(ss));
  let c = max_nan(norm, EPS); // a NaN norm must not be clamped away
#if BACKWARD
  // <dy, y> = <dy, x> / c; below EPS the forward divides by a constant, so the projection drops out.
  var dot = 0.0;
  for (var i = ids.lid; i < p.dim; i += WG) {
    dot += dy[base + i] * x[base + i];
  }
  let proj = select(0.0, wg_sum(dot) / (c * c), norm > EPS);
  for (var i = ids.lid; i < p.dim; i += WG) {
    dx[base + i] = (dy[base + i] - x[base + i] * proj) / c;
  }
#else
  for (var i = ids.lid; i < p.dim; i += WG) {
    y[base + i] = x[base + i] / c;
  }
#endif
}
