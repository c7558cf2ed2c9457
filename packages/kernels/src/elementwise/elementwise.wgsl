// Elementwise f32 operations over n elements (any shape, taken flat in row-major order), one element
// per invocation. Past 65,535 workgroups the grid folds into 2-D: i = (wid.x + wid.y * nx) * WG + lid.
// Exactly one OP_* define is on:
//   OP_ADD    out = a + b
//   OP_AXPY   y += alpha * x       (also the in-place add, with alpha = 1: 1 * x is exact)
//   OP_SCALE  x *= alpha
//   OP_FILL   x = alpha
//   OP_CAST   out = f32(W)         (W stored f32, f16 or bf16; needs common/weights.wgsl before it)
// No clamping anywhere: NaN and Inf pass through as IEEE arithmetic says.
struct Params {
  n: u32,
  nx: u32,
  alpha: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
#if OP_ADD
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#endif
#if OP_AXPY
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
#endif
#if OP_SCALE
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
#endif
#if OP_FILL
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
#endif
#if OP_CAST
@group(0) @binding(1) var<storage, read> W: array<WElem>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
#endif

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * p.nx) * WG + lid;
  if (i >= p.n) {
    return;
  }
#if OP_ADD
  out[i] = a[i] + b[i];
#endif
#if OP_AXPY
  y[i] += p.alpha * x[i];
#endif
#if OP_SCALE
  x[i] *= p.alpha;
#endif
#if OP_FILL
  x[i] = p.alpha;
#endif
#if OP_CAST
  out[i] = wload(i);
#endif
}
