// Shared by every matmul kernel: Params, bindings, bounds-checked loads of 4 stored elements, the store.
// Layouts are run-time flags, so one pipeline serves all four combinations.
//   A stored [ra, ca] f32 row-major: [M, K], or [K, M] when Params.transA is set.
//   B (binding `W`, any weight view) stored [rb, cb]: [N, K] when Params.transB is set, else [K, N].
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
  transA: u32,
  transB: u32,
  // First output tile row and column of this dispatch: large products are split into several
  // dispatches so that none runs long enough to trip an OS GPU watchdog.
  tileRow0: u32,
  tileCol0: u32,
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

fn aRows() -> u32 { return select(p.M, p.K, p.transA != 0u); }
fn aCols() -> u32 { return select(p.K, p.M, p.transA != 0u); }
fn bRows() -> u32 { return select(p.K, p.N, p.transB != 0u); }
fn bCols() -> u32 { return select(p.N, p.K, p.transB != 0u); }

// A_stored[r, c..c+3], zero outside the matrix. Without A_X4 a run-time-count loop with a single load
// statement: lavapipe expands each memory access into per-lane code, and compile time grows with them.
fn loadA4(r: u32, c: u32) -> vec4<f32> {
  let ca = aCols();
  var v = vec4<f32>(0.0);
  if (r >= aRows() || c >= ca) { return v; }
#if A_X4
  v = A[(r * ca + c) >> 2u];
#else
  let i = r * ca + c;
  let count = min(4u, ca - c);
  for (var j = 0u; j < count; j++) { v[j] = A[i + j]; }
#endif
  return v;
}

// B_stored[r, c..c+3], zero outside the matrix. The tiled and subgroup-matrix kernels call it with c a
// multiple of 4, so a quantized B decodes the run word-wise (wload4RC: one code word, one scale).
fn loadB4(r: u32, c: u32) -> vec4<f32> {
  let cb = bCols();
  var v = vec4<f32>(0.0);
  if (r >= bRows() || c >= cb) { return v; }
#if W_QUANT
  v = wload4RC(r, c, cb);
#else
#if B_X4
  v = wload4(r * cb + c);
#else
  let count = min(4u, cb - c);
  for (var j = 0u; j < count; j++) { v[j] = wloadRC(r, c + j, cb); }
#endif
#endif
  return v;
}

#if B_RUN8
// B_stored[r, c..c+7] of a 4-bit quantized B, zero outside the matrix; c a multiple of 8: one code
// word and one scale (wload8RC).
fn loadB8(r: u32, c: u32) -> array<vec4<f32>, 2> {
  let cb = bCols();
  if (r >= bRows() || c >= cb) { return array<vec4<f32>, 2>(); }
  return wload8RC(r, c, cb);
}
#endif

// op(B)(k, n) read by stored row and column (the quantized views have no flat-index load).
fn opB(k: u32, n: u32) -> f32 {
  if (p.transB != 0u) { return wloadRC(n, k, p.K); }
  return wloadRC(k, n, p.N);
}

// C[m, n] = alpha * v + beta * C[m, n]; C is not read when beta is 0 (it may hold garbage or NaN).
fn storeC(m: u32, n: u32, v: f32) {
  let i = m * p.N + n;
  var r = p.alpha * v;
  if (p.beta != 0.0) { r += p.beta * C[i]; }
  C[i] = r;
}
