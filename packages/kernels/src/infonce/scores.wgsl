// A small strided matmul for InfoNCE: c[m, n] = alpha * sum_k A(m, k) * B(k, n), where
// A(m, k) = a[m * a_row + k * a_col] and B(k, n) = b[k * b_row + n * b_col], so one kernel serves
// q p^T, dS p and dS^T q. c f32 [M, N] row-major. 16x16 output tile per workgroup, one element per
// invocation, K in steps of 16 through workgroup memory. The matrices are batch-sized (queries x
// passages x hidden), small next to the model's matmuls, so no register tiling.
const T: u32 = 16u;

struct Params {
  m: u32,
  n: u32,
  k: u32,
  a_row: u32,
  a_col: u32,
  b_row: u32,
  b_col: u32,
  alpha: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

var<workgroup> ta: array<array<f32, T>, T>; // [m][k]
var<workgroup> tb: array<array<f32, T>, T>; // [k][n]

@compute @workgroup_size(T, T)
fn main(@builtin(local_invocation_id) l: vec3u, @builtin(workgroup_id) w: vec3u) {
  let row = w.y * T + l.y;
  let col = w.x * T + l.x;
  var acc = 0.0;
  for (var k0 = 0u; k0 < p.k; k0 += T) {
    let ak = k0 + l.x;
    var av = 0.0;
    if (row < p.m && ak < p.k) {
      av = a[row * p.a_row + ak * p.a_col];
    }
    ta[l.y][l.x] = av;
    let bk = k0 + l.y;
    var bv = 0.0;
    if (bk < p.k && col < p.n) {
      bv = b[bk * p.b_row + col * p.b_col];
    }
    tb[l.y][l.x] = bv;
    workgroupBarrier();
    for (var kk = 0u; kk < T; kk++) {
      acc += ta[l.y][kk] * tb[kk][l.x];
    }
    workgroupBarrier();
  }
  if (row < p.m && col < p.n) {
    c[row * p.n + col] = p.alpha * acc;
  }
}
