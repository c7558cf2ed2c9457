// Token cross-entropy with its gradient, one workgroup per row (needs row-reduce.wgsl before it).
// logits f32 [rows, vocab] row-major; labels i32 [rows]; loss f32 [rows]; dlogits f32 [rows, vocab].
// With z = scale * logits[r]:  loss[r] = weight * (logsumexp(z) - z[label]),
//   dlogits[r, v] = weight * scale * (softmax(z)[v] - [v == label]).
// label < 0: ignored (loss 0, gradient 0). label >= vocab: loss NaN (a caller bug must not pass silently).
struct Params {
  rows: u32,
  vocab: u32,
  nx: u32, // workgroups along x; row = wid.x + wid.y * nx
  weight: f32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;

@compute @workgroup_size(WG)
fn main(ids: Ids, @builtin(workgroup_id) wid: vec3u) {
  reduce_init(ids);
  let row = wid.x + wid.y * p.nx;
  if (row >= p.rows) {
    return;
  }
  let lid = ids.lid;
  let base = row * p.vocab;
  let label = labels[row];
  if (label < 0) {
    for (var v = lid; v < p.vocab; v += WG) {
      dlogits[base + v] = 0.0;
    }
    if (lid == 0u) {
      loss[row] = 0.0;
    }
    return;
  }

  var m = F32_LOWEST;
  for (var v = lid; v < p.vocab; v += WG) {
    m = max_nan(m, p.scale * logits[base + v]);
  }
  let row_max = wg_max(m);
  var s = 0.0;
  for (var v = lid; v < p.vocab; v += WG) {
    s += exp(p.scale * logits[base + v] - row_max);
  }
  let lse = row_max + log(wg_sum(s));

  let g = p.weight * p.scale;
  let target_v = u32(label);
  for (var v = lid; v < p.vocab; v += WG) {
    let sm = exp(p.scale * logits[base + v] - lse);
    dlogits[base + v] = g * (sm - select(0.0, 1.0, v == target_v));
  }
  if (lid == 0u) {
    if (target_v < p.vocab) {
      loss[row] = p.weight * (lse - p.scale * logits[base + target_v]);
    } else {
      loss[row] = nan_f32();
    }
  }
}
