// Shared by every matmul kernel: Params, bindings, bounds-checked loads of 4 stored elements, epilogue.
//   A stored [ra, ca] f32 row-major: [M, K], or [K, M] with TRANS_A.
//   B (binding `W`, any weight view) stored [rb, cb]: [N, K] with TRANS_B, else [K, N].
//   C [M, N] f32 row-major.
// A_X4 / B_X4: the contiguous dimension is a multiple of 4, so aligned runs of 4 load as one vector
// and are either wholly inside or wholly outside the matrix.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  alpha: f32,
  beta: f32,
  // Tile rows per z slice when the grid folds (tile row = wid.y + wid.z * foldY).
  foldY: u32,
}

#if A_X4
alias AElem = vec4<f32>;
#else
alias AElem = f32;
#endif

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<AElem>;
@group(0) @binding(2) var<storage, read> W: array<WElem>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

#if W_F32X4
alias WElem = vec4<f32>;
fn wload(i: u32) -> f32 { return W[i >> 2u][i & 3u]; }
fn wload4(i: u32) -> vec4<f32> { return W[i >> 2u]; }
#endif
#if W_F32
fn wload4(i: u32) -> vec4<f32> { return vec4<f32>(W[i], W[i + 1u], W[i + 2u], W[i + 3u]); }
#endif
#if W_F16
fn wload4(i: u32) -> vec4<f32> { return vec4<f32>(vec4<f16>(W[i], W[i + 1u], W[i + 2u], W[i + 3u])); }
#endif
#if W_F16_PACKED
fn wload4(i: u32) -> vec4<f32> {
  let j = i >> 1u;
  return vec4<f32>(unpack2x16float(W[j]), unpack2x16float(W[j + 1u]));
}
#endif
#if W_BF16
fn wload4(i: u32) -> vec4<f32> {
  let u = W[i >> 1u];
  let v = W[(i >> 1u) + 1u];
  return bitcast<vec4<f32>>(vec4<u32>(u << 16u, u & 0xffff0000u, v << 16u, v & 0xffff0000u));
}
#endif

fn aRows() -> u32 {
#if TRANS_A
  return p.K;
#else
  return p.M;
#endif
}
fn aCols() -> u32 {
#if TRANS_A
  return p.M;
#else
  return p.K;
#endif
}
fn bRows() -> u32 {
#if TRANS_B
  return p.N;
#else
  return p.K;
#endif
}
fn bCols() -> u32 {
#if TRANS_B
  return p.K;
#else
  return p.N;
#endif
}

// A_stored[r, c..c+3], no bounds checks (caller guarantees r < ra, c + 3 < ca).
fn loadA4Fast(r: u32, c: u32) -> vec4<f32> {
  let i = r * aCols() + c;
#if A_X4
  return A[i >> 2u];
#else
  return vec4<f32>(A[i], A[i + 1u], A[i + 2u], A[i + 3u]);
#endif
}

// A_stored[r, c..c+3], zero outside the matrix.
fn loadA4(r: u32, c: u32) -> vec4<f32> {
  let ca = aCols();
  if (r >= aRows() || c >= ca) { return vec4<f32>(0.0); }
#if A_X4
  return A[(r * ca + c) >> 2u];
#else
  let i = r * ca + c;
  if (c + 3u < ca) { return vec4<f32>(A[i], A[i + 1u], A[i + 2u], A[i + 3u]); }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    if (c + j < ca) { v[j] = A[i + j]; }
  }
  return v;
#endif
}

// B_stored[r, c..c+3], no bounds checks.
fn loadB4Fast(r: u32, c: u32) -> vec4<f32> {
  let i = r * bCols() + c;
#if B_X4
  return wload4(i);
#else
  return vec4<f32>(wload(i), wload(i + 1u), wload(i + 2u), wload(i + 3u));
#endif
}

// B_stored[r, c..c+3], zero outside the matrix.
fn loadB4(r: u32, c: u32) -> vec4<f32> {
  let cb = bCols();
  if (r >= bRows() || c >= cb) { return vec4<f32>(0.0); }
  let i = r * cb + c;
#if B_X4
  return wload4(i);
#else
  if (c + 3u < cb) { return vec4<f32>(wload(i), wload(i + 1u), wload(i + 2u), wload(i + 3u)); }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    if (c + j < cb) { v[j] = wload(i + j); }
  }
  return v;
#endif
}

// C[m, n] = alpha * v + beta * C[m, n]; C is not read when beta is 0 (it may hold garbage or NaN).
fn storeC(m: u32, n: u32, v: f32) {
  let i = m * p.N + n;
  var r = p.alpha * v;
  if (p.beta != 0.0) { r += p.beta * C[i]; }
  C[i] = r;
}
