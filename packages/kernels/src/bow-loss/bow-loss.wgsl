// Bag-of-words loss with its gradient, one workgroup per group (needs row-reduce.wgsl before it).
// logits f32 [groups * positions, vocab] row-major, the `positions` rows of group g consecutive;
// offsets i32 [groups + 1], targets i32 [nnz] (CSR targets; repeats count); weights f32 [groups];
// loss f32 [groups]; dlogits f32 [groups * positions, vocab].
//   m[v] = max_p logits[g*P + p, v],  lse = logsumexp(m),  n = number of targets of g,
//   loss[g] = weights[g] * (lse - (1/n) * sum_j m[targets[j]]),
//   d loss[g] / d m[v] = weights[g] * (softmax(m)[v] - count(v)/n), routed to the row p that gave the
//   max (the first such row on ties). No targets: loss 0, gradient 0. A target id outside [0, vocab):
//   loss NaN (a caller bug must not pass silently), and that id gets no gradient.
struct Params {
  groups: u32,
  positions: u32,
  vocab: u32,
  nx: u32, // workgroups along x; group = wid.x + wid.y * nx
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> offsets: array<i32>;
@group(0) @binding(3) var<storage, read> targets: array<i32>;
@group(0) @binding(4) var<storage, read> weights: array<f32>;
@group(0) @binding(5) var<storage, read_write> loss: array<f32>;
@group(0) @binding(6) var<storage, read_write> dlogits: array<f32>;

/** Max over the group's positions of column v (NaN if any is NaN). */
fn pooled(base: u32, v: u32) -> f32 {
  var m = logits[base + v];
  for (var q = 1u; q < p.positions; q++) {
    m = max_nan(m, logits[base + q * p.vocab + v]);
  }
  return m;
}

/** The position whose logit is the max of column v: the first one on ties. */
fn argmax_pos(base: u32, v: u32) -> u32 {
  var best = logits[base + v];
  var arg = 0u;
  for (var q = 1u; q < p.positions; q++) {
    let x = logits[base + q * p.vocab + v];
    if (x > best) {
      best = x;
      arg = q;
    }
  }
  return arg;
}

@compute @workgroup_size(WG)
fn main(ids: Ids, @builtin(workgroup_id) wid: vec3u) {
  reduce_init(ids);
  let g = wid.x + wid.y * p.nx;
  if (g >= p.groups) {
    return;
  }
  let lid = ids.lid;
  let rows_len = p.positions * p.vocab;
  let base = g * rows_len;
  let start = u32(offsets[g]);
  let n = u32(max(offsets[g + 1u] - offsets[g], 0));
  if (n == 0u) {
    for (var i = lid; i < rows_len; i += WG) {
      dlogits[base + i] = 0.0;
    }
    if (lid == 0u) {
      loss[g] = 0.0;
    }
    return;
  }

  var m = F32_LOWEST;
  for (var v = lid; v < p.vocab; v += WG) {
    m = max_nan(m, pooled(base, v));
  }
  let top = wg_max(m);
  var s = 0.0;
  for (var v = lid; v < p.vocab; v += WG) {
    s += exp(pooled(base, v) - top);
  }
  let lse = top + log(wg_sum(s));

  var t = 0.0;
  for (var j = lid; j < n; j += WG) {
    let id = targets[start + j];
    t += select(nan_f32(), pooled(base, u32(id)), id >= 0 && u32(id) < p.vocab);
  }
  let target_sum = wg_sum(t);
  let w = weights[g];
  let inv_n = 1.0 / f32(n);
  if (lid == 0u) {
    loss[g] = w * (lse - target_sum * inv_n);
  }

  // The softmax part of the gradient, on the max rows; every element of the group is written.
  for (var v = lid; v < p.vocab; v += WG) {
    let arg = argmax_pos(base, v);
    let grad = w * exp(pooled(base, v) - lse);
    for (var q = 0u; q < p.positions; q++) {
      dlogits[base + q * p.vocab + v] = select(0.0, grad, q == arg);
    }
  }
  // The targets' part overwrites their entries, so those writes must land after the ones above.
  storageBarrier();
  // Repeated ids: only the first occurrence writes, with the count of all occurrences (no write races).
  for (var j = lid; j < n; j += WG) {
    let id = targets[start + j];
    if (id < 0 || u32(id) >= p.vocab) {
      continue;
    }
    var count = 0u;
    var first = true;
    for (var k = 0u; k < n; k++) {
      if (targets[start + k] == id) {
        count++;
        first = first && k >= j;
      }
    }
    if (first) {
      let v = u32(id);
      let arg = argmax_pos(base, v);
      let sm = exp(pooled(base, v) - lse);
      dlogits[base + arg * p.vocab + v] = w * (sm - f32(count) * inv_n);
    }
  }
}
