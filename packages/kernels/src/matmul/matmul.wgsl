// Register-tiled matmul without workgroup memory: each invocation computes a 4x4 block of C from
// 4-element runs of A and B (vector loads where aligned). On CPUs (lavapipe) the caches do the tiling and
// barriers would only cost; on GPUs it is the fallback for shapes too thin for the tiled kernels.
// Edges: row/column indices past M or N are clamped to the last one (those outputs are computed from
// duplicates and never stored), so the main loop has no bounds checks; only the K tail is scalar.
// Keep the code small: lavapipe compiles every inlined load, and branchy loaders took seconds.
// Shapes and layouts: see matmul-common.wgsl.

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

// A_stored[r, c..c+3] with r < ra, c < ca; past the row end (only without A_X4) the last element repeats.
fn loadA4Clamp(r: u32, c: u32) -> vec4<f32> {
  let ca = aCols();
#if A_X4
  return A[(r * ca + c) >> 2u];
#else
  let i = r * ca;
  let e = ca - 1u;
  return vec4<f32>(A[i + min(c, e)], A[i + min(c + 1u, e)], A[i + min(c + 2u, e)], A[i + min(c + 3u, e)]);
#endif
}

fn loadB4Clamp(r: u32, c: u32) -> vec4<f32> {
  let cb = bCols();
#if B_X4
  return wload4(r * cb + c);
#else
  let i = r * cb;
  let e = cb - 1u;
  return vec4<f32>(wload(i + min(c, e)), wload(i + min(c + 1u, e)), wload(i + min(c + 2u, e)), wload(i + min(c + 3u, e)));
#endif
}

fn aAt(i: u32) -> f32 {
#if A_X4
  return A[i >> 2u][i & 3u];
#else
  return A[i];
#endif
}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = ((wid.y + wid.z * p.foldY) * WG_Y + lid.y) * 4u;
  let n0 = (wid.x * WG_X + lid.x) * 4u;
  if (m0 >= p.M || n0 >= p.N) { return; }
  let mc = min(vec4<u32>(m0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.M - 1u));
  let nc = min(vec4<u32>(n0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.N - 1u));
  // acc[j][i] = C(m0 + i, n0 + j) = sum over k of ta[kk][i] * tb[j][kk], where ta's column kk holds
  // A(m0 + 0..3, k + kk) and tb's column j holds B(k + 0..3, n0 + j).
  var acc = mat4x4<f32>();
  let k4 = p.K & ~3u;
  for (var k = 0u; k < k4; k += 4u) {
#if TRANS_A
    let ta = mat4x4<f32>(loadA4Clamp(k, m0), loadA4Clamp(k + 1u, m0), loadA4Clamp(k + 2u, m0), loadA4Clamp(k + 3u, m0));
#else
    let ta = transpose(
      mat4x4<f32>(loadA4Clamp(mc.x, k), loadA4Clamp(mc.y, k), loadA4Clamp(mc.z, k), loadA4Clamp(mc.w, k)),
    );
#endif
#if TRANS_B
    let tb = mat4x4<f32>(loadB4Clamp(nc.x, k), loadB4Clamp(nc.y, k), loadB4Clamp(nc.z, k), loadB4Clamp(nc.w, k));
#else
    let tb = transpose(
      mat4x4<f32>(loadB4Clamp(k, n0), loadB4Clamp(k + 1u, n0), loadB4Clamp(k + 2u, n0), loadB4Clamp(k + 3u, n0)),
    );
#endif
    acc += ta * tb;
  }
  for (var k = k4; k < p.K; k++) {
#if TRANS_A
    let av = vec4<f32>(aAt(k * p.M + mc.x), aAt(k * p.M + mc.y), aAt(k * p.M + mc.z), aAt(k * p.M + mc.w));
#else
    let av = vec4<f32>(aAt(mc.x * p.K + k), aAt(mc.y * p.K + k), aAt(mc.z * p.K + k), aAt(mc.w * p.K + k));
#endif
#if TRANS_B
    let bv = vec4<f32>(wload(nc.x * p.K + k), wload(nc.y * p.K + k), wload(nc.z * p.K + k), wload(nc.w * p.K + k));
#else
    let bv = vec4<f32>(wload(k * p.N + nc.x), wload(k * p.N + nc.y), wload(k * p.N + nc.z), wload(k * p.N + nc.w));
#endif
    acc += mat4x4<f32>(av * bv.x, av * bv.y, av * bv.z, av * bv.w);
  }
  for (var j = 0u; j < 4u; j++) {
    if (n0 + j < p.N) {
      for (var i = 0u; i < 4u; i++) {
        if (m0 + i < p.M) { storeC(m0 + i, n0 + j, acc[j][i]); }
      }
    }
  }
}
