// Register-tiled matmul without workgroup memory: each invocation computes a 4x4 block of C as 16
// running sums, reading 4 values of op(A) and 4 of op(B) per step of k. On CPUs (lavapipe) the caches
// do the tiling and barriers would only cost; on GPUs it serves shapes too thin for the tiled kernels.
// Layouts are run-time strides (Params.transA/transB), so one pipeline serves all four; row and column
// indices past M or N are clamped (those sums are computed from duplicates and never stored), so the
// loop has no bounds checks. Lavapipe expands every memory access into per-lane code: keep the number
// of load/store statements small, or compilation takes seconds. Shapes and layouts: matmul-common.wgsl.

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = ((p.tileRow0 + wid.y + wid.z * p.foldY) * WG_Y + lid.y) * 4u;
  let n0 = ((p.tileCol0 + wid.x) * WG_X + lid.x) * 4u;
  if (m0 >= p.M || n0 >= p.N) { return; }
  let ta = p.transA != 0u;
  let tb = p.transB != 0u;
  let sAm = select(p.K, 1u, ta);
  let sAk = select(1u, p.M, ta);
  let sBk = select(p.N, 1u, tb);
  let sBn = select(1u, p.K, tb);
  // op(A)(m, k) = A[m * sAm + k * sAk]; op(B)(k, n) = W[k * sBk + n * sBn].
  let ia = min(vec4<u32>(m0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.M - 1u)) * sAm;
  let nn = min(vec4<u32>(n0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.N - 1u));
  let ib = nn * sBn;
  var c0 = vec4<f32>();
  var c1 = vec4<f32>();
  var c2 = vec4<f32>();
  var c3 = vec4<f32>();
#if W_QUANT
  // Quantized weights decode word-wise, an aligned run of 4 of a stored row at a time (wload4RC: one
  // code word and one scale; lanes past the row are zero). B stored [K, N]: op(B)(k, n0..n0+3) is one
  // run of stored row k (n0 % 4 == 0; lanes past N are never stored). B^T (stored [N, K]): column n of
  // op(B) is stored row n, so every 4th step of k decodes the next run of each of the four rows into
  // rt0..rt3, which serve the 4 steps.
  var rt0 = vec4<f32>();
  var rt1 = vec4<f32>();
  var rt2 = vec4<f32>();
  var rt3 = vec4<f32>();
#endif
  for (var k = 0u; k < p.K; k++) {
    let oa = k * sAk;
    let a = vec4<f32>(A[ia.x + oa], A[ia.y + oa], A[ia.z + oa], A[ia.w + oa]);
#if W_QUANT
    var b: vec4<f32>;
    if (tb) {
      let j = k & 3u;
      if (j == 0u) {
        rt0 = wload4RC(nn.x, k, p.K);
        rt1 = wload4RC(nn.y, k, p.K);
        rt2 = wload4RC(nn.z, k, p.K);
        rt3 = wload4RC(nn.w, k, p.K);
      }
      b = vec4<f32>(rt0[j], rt1[j], rt2[j], rt3[j]);
    } else {
      b = wload4RC(k, n0, p.N);
    }
#else
    let ob = k * sBk;
    let b = vec4<f32>(wload(ib.x + ob), wload(ib.y + ob), wload(ib.z + ob), wload(ib.w + ob));
#endif
    c0 += a * b.x;
    c1 += a * b.y;
    c2 += a * b.z;
    c3 += a * b.w;
  }
  // cj holds C(m0 + 0..3, n0 + j). One store statement in loops with run-time trip counts: lavapipe
  // expands every store into per-lane code, and unrolled stores made this kernel compile for seconds.
  let acc = array<vec4<f32>, 4>(c0, c1, c2, c3);
  let rows = min(4u, p.M - m0);
  let cols = min(4u, p.N - n0);
  for (var e = 0u; e < rows * cols; e++) {
    let i = e / cols;
    let j = e % cols;
    storeC(m0 + i, n0 + j, acc[j][i]);
  }
}
