// AdamW update, one element per invocation, in torch.optim.AdamW's order of operations
// (single-tensor path) so results match PyTorch to an ulp or two:
//   p *= decay;  m = m*b1 + g*(1-b1);  v = v*b2 + g*g*(1-b2);
//   p += -stepSize * (m / (sqrt(v)/bc2Sqrt + eps))
// where g = grad * scale, decay = 1 - lr*wd, stepSize = lr / (1 - b1^step), bc2Sqrt = sqrt(1 - b2^step)
// are computed in f64 on the CPU. param, grad, m, v: f32 [n], any shape, contiguous.
// With SCALE_BUF the grad scale is read from scaleBuf[scaleIndex] (a clip factor the GPU computed).

struct Params {
  n: u32,
  nx: u32,            // workgroups along x (grid1d fold)
  scaleIndex: u32,
  _pad: u32,
  decay: f32,
  beta1: f32,
  oneMinusBeta1: f32,
  beta2: f32,
  oneMinusBeta2: f32,
  negStepSize: f32,
  bc2Sqrt: f32,
  eps: f32,
  gradScale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
#if SCALE_BUF
@group(0) @binding(5) var<storage, read> scaleBuf: array<f32>;
#endif

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * p.nx) * WG + lid;
  if (i >= p.n) {
    return;
  }
#if SCALE_BUF
  let scale = scaleBuf[p.scaleIndex];
#else
  let scale = p.gradScale;
#endif
  let g = grad[i] * scale;
  let mi = m[i] * p.beta1 + g * p.oneMinusBeta1;
  let vi = v[i] * p.beta2 + (g * g) * p.oneMinusBeta2;
  m[i] = mi;
  v[i] = vi;
  let denom = sqrt(vi) / p.bc2Sqrt + p.eps;
  param[i] = param[i] * p.decay + p.negStepSize * (mi / denom);
}
