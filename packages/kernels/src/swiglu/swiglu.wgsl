// SwiGLU (LLaMA MLP activation), one element per invocation; the grid folds past 65,535 workgroups:
// i = (wid.x + wid.y * nx) * WG + lid. gate, up, out, dout, dgate, dup: f32 [T, I] row-major, taken
// flat (n = T * I).
//   forward:          out = silu(gate) * up,  silu(g) = g * sigmoid(g)
//   BACKWARD:  dgate = dout * up * s * (1 + g * (1 - s)),  dup = dout * silu(g),  s = sigmoid(g)
struct Params {
  n: u32,
  nx: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
#if BACKWARD
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(5) var<storage, read_write> dup: array<f32>;
#else
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#endif

override WG: u32 = 256u;

// exp of a non-positive argument only, so nothing overflows for any finite g (WGSL leaves overflow
// indeterminate); +-Inf give sigmoid 1 and 0 and NaN stays NaN, as in PyTorch.
fn sigmoid(g: f32) -> f32 {
  let e = exp(-abs(g));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), g >= 0.0);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * p.nx) * WG + lid;
  if (i >= p.n) {
    return;
  }
  let g = gate[i];
  let s = sigmoid(g);
#if BACKWARD
  let d = dout[i];
  dgate[i] = d * up[i] * s * (1.0 + g * (1.0 - s));
  dup[i] = d * (g * s);
#else
  out[i] = (g * s) * up[i];
#endif
}
