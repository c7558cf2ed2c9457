// From acc[0] = total squared gradient norm: out[0] = norm, out[1] = clip factor as
// torch.nn.utils.clip_grad_norm_ (min(1, maxNorm / (norm + 1e-6)); 1 when maxNorm <= 0).
// A NaN norm gives a NaN factor (as PyTorch) so a broken step cannot pass for a clean one.
// acc: f32 [>= 1], out: f32 [>= 2].

struct Params {
  maxNorm: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> acc: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(1)
fn main() {
  let norm = sqrt(acc[0]);
  out[0] = norm;
  var factor = 1.0;
  if (p.maxNorm > 0.0) {
    let c = p.maxNorm / (norm + 1e-6);
    factor = select(1.0, c, !(c >= 1.0));
  }
  out[1] = factor;
}
