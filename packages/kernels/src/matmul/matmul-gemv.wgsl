// GEMV-style matmul for a few tokens: C = alpha * op(A) @ W^T + beta * C with W stored [N, K]
// (Params.transB set: HF weights [out, in]) and M small. Each workgroup owns ROWS output columns n
// (rows of W) and MT token rows m; its GWG invocations stride along K, each reading runs of RUN
// contiguous elements of every owned W row (adjacent invocations read adjacent runs: coalesced; a
// quantized run is one code word and one scale), and keep the MT x ROWS partial sums in registers.
// A workgroup reduction then combines the GWG partials of each output. W is read once per MT tokens,
// so at M <= MT the kernel moves each weight byte once and is bound by memory bandwidth, where 4-bit
// weights read about a quarter of f16's bytes. Rows past M or N are clamped to the last one (their
// sums are computed from duplicates and never stored), so the loop has no bounds checks on them.
//
// Prepended by matmul.ts: the `enable subgroups` line (SUBGROUPS), weights.wgsl and matmul-common.wgsl;
// appended: the constants MT (token rows per workgroup: 1, 4 or 8) and GWG (invocations).
// B_RUN8 (q4, nf4): runs of 8, all of one code word (loadB8); else runs of 4 (loadB4).
//
// Reduction: each invocation publishes its MT x ROWS partials to workgroup memory (with SUBGROUPS,
// subgroupAdd first and only lane 0 of each subgroup publishes, so 1/size of the slots; subgroup k
// is taken to be invocations [k*size, (k+1)*size), as row-sum.wgsl does), then two strided passes
// over the slots, two barriers in all (barriers are dear on CPU adapters). Lavapipe expands every
// memory access into per-lane code, so loads are few and branch-free; the MT-row loops unroll, and
// each unrolled A load costs compile time (about 1 s at MT = 1 to 3 s at MT = 8 on lavapipe).

const ROWS: u32 = 4u;

#if B_RUN8
const RUN: u32 = 8u;
#else
const RUN: u32 = 4u;
#endif

#if SUBGROUPS
// One slot per subgroup: GWG / 4 at most (WebGPU's smallest subgroup size is 4).
var<workgroup> part: array<array<vec4<f32>, MT>, GWG / 4u>;
#else
// GWG * MT * 16 bytes: 8 KiB at 64 invocations and 8 token rows, half of WebGPU's default limit.
var<workgroup> part: array<array<vec4<f32>, MT>, GWG>;
#endif
// Outputs per workgroup (4 to 32: divides GWG), and the per-invocation sums of the second pass.
const OUTS: u32 = MT * ROWS;
var<workgroup> spread: array<f32, GWG>;

struct GemvIds {
  @builtin(local_invocation_index) lid: u32,
#if SUBGROUPS
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) sgSize: u32,
#endif
}

// op(A)(m, k..k+3), zero past K, without branches: clamped indices, then a mask. A stored
// [M, K] with A_X4 is one vector load; otherwise four loads with the layout's strides (A [K, M] with
// transA: a strided column).
fn opA4(m: u32, k: u32) -> vec4<f32> {
  let inside = vec4<u32>(k) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.K);
#if A_X4
  return select(vec4<f32>(0.0), A[(m * p.K + min(k, p.K - 4u)) >> 2u], inside);
#else
  let ta = p.transA != 0u;
  let kk = min(vec4<u32>(k) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.K - 1u));
  let i = vec4<u32>(m * select(p.K, 1u, ta)) + kk * select(1u, p.M, ta);
  return select(vec4<f32>(0.0), vec4<f32>(A[i.x], A[i.y], A[i.z], A[i.w]), inside);
#endif
}

@compute @workgroup_size(GWG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, ids: GemvIds) {
  let m0 = (p.tileRow0 + wid.y + wid.z * p.foldY) * MT;
  let n0 = (p.tileCol0 + wid.x) * ROWS;
  let nr = min(vec4<u32>(n0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.N - 1u));
  // acc[i][r]: this invocation's share of C(m0 + i, n0 + r).
  var acc: array<vec4<f32>, MT>;
  for (var k = ids.lid * RUN; k < p.K; k += GWG * RUN) {
#if B_RUN8
    let w0 = loadB8(nr.x, k);
    let w1 = loadB8(nr.y, k);
    let w2 = loadB8(nr.z, k);
    let w3 = loadB8(nr.w, k);
    // Column r of a matrix is run r of W: a * mat = (dot(a, run 0), ..., dot(a, run 3)).
    let lo = mat4x4<f32>(w0[0], w1[0], w2[0], w3[0]);
    let hi = mat4x4<f32>(w0[1], w1[1], w2[1], w3[1]);
    for (var i = 0u; i < MT; i++) {
      let m = min(m0 + i, p.M - 1u);
      acc[i] += opA4(m, k) * lo + opA4(m, k + 4u) * hi;
    }
#else
    let w = mat4x4<f32>(loadB4(nr.x, k), loadB4(nr.y, k), loadB4(nr.z, k), loadB4(nr.w, k));
    for (var i = 0u; i < MT; i++) {
      acc[i] += opA4(min(m0 + i, p.M - 1u), k) * w;
    }
#endif
  }
  // Publish: with subgroups one partial per subgroup (lane 0 of each), else every invocation's.
#if SUBGROUPS
  let slots = (GWG + ids.sgSize - 1u) / ids.sgSize;
  let slot = ids.lid / ids.sgSize;
  var sums: array<vec4<f32>, MT>;
  for (var i = 0u; i < MT; i++) { sums[i] = subgroupAdd(acc[i]); }
  let publish = ids.lane == 0u;
#else
  let slots = GWG;
  let slot = ids.lid;
  let sums = acc;
  let publish = true;
#endif
  if (publish) {
    for (var i = 0u; i < MT; i++) { part[slot][i] = sums[i]; }
  }
  workgroupBarrier();
  // Then two strided passes: invocation lid sums the slots lid / OUTS, + GWG / OUTS, ... of output
  // lid % OUTS, and the first OUTS invocations add those GWG / OUTS sums. The same order everywhere.
  let o = ids.lid % OUTS;
  var t = 0.0;
  for (var s = ids.lid / OUTS; s < slots; s += GWG / OUTS) { t += part[s][o / ROWS][o % ROWS]; }
  spread[ids.lid] = t;
  workgroupBarrier();
  if (ids.lid < OUTS) {
    var total = 0.0;
    for (var c = 0u; c < GWG / OUTS; c++) { total += spread[c * OUTS + ids.lid]; }
    let i = ids.lid / ROWS;
    let r = ids.lid % ROWS;
    if (m0 + i < p.M && n0 + r < p.N) { storeC(m0 + i, n0 + r, total); }
  }
}
