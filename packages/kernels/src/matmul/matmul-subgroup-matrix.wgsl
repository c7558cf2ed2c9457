// f16 subgroup-matrix (tensor core) matmul: a workgroup computes a BM x BN tile of C; BK-deep slices of
// A and B are converted to f16 while being copied into workgroup memory (zero outside the matrices; a
// block-quantized B is decoded word-wise first: loadB4 -> wload4RC, or for 4-bit codes (B_RUN8) runs
// of 8 from one code word, loadB8 -> wload8RC), and
// NSG = WM x WN subgroups, laid out WM x WN over the tile, each multiply-accumulate TM x TN result
// matrices of SM x SN in f32. With DOUBLE, two slice buffers alternate: the copy of slice s + 1 is issued
// before slice s is multiplied, so one barrier per slice separates them (the copies' global-memory
// latency overlaps other subgroups' products). The slices keep the operands' stored layouts; the matrix
// loads transpose (col_major), so here the layouts are defines TRANS_A/TRANS_B (matching
// Params.transA/transB, which the loads use). The epilogue stores straight to C when the tile is inside
// C, alpha is 1 and rows are 16-byte aligned; otherwise through a per-subgroup f32 scratch, with bounds
// checks and alpha/beta.
//
// Verified on real hardware only on the H100 (benchmarks/gpu/run-all.sh); everywhere else its index
// arithmetic is verified by matmul-subgroup-matrix.emu.ts, a line-by-line TS transcription that must
// be kept in step with this file. Shapes and layouts: see matmul-common.wgsl.

// SM, SN, SK: common/subgroup-matrix-sides.wgsl. BM, BN, BK, WM, WN: appended by the wrapper
// (subgroupMatrixTileCode; SubgroupMatrixTile documents the constraints).
const NSG = WM * WN;
const TM = BM / (WM * SM);
const TN = BN / (WN * SN);
#if DOUBLE
const SLICES = 2u;
#else
const SLICES = 1u;
#endif
// NSG times the device's largest subgroup size; subgroups beyond NSG (when the runtime subgroup is
// smaller) only help copy slices.
override WG: u32 = 128u;

#if TRANS_A
const A_LD = BM; // As = A_stored[k0 + 0..BK, m0 + 0..BM]
#else
const A_LD = BK; // As = A_stored[m0 + 0..BM, k0 + 0..BK]
#endif
#if TRANS_B
const B_LD = BK; // Bs = B_stored[n0 + 0..BN, k0 + 0..BK]
#else
const B_LD = BN; // Bs = B_stored[k0 + 0..BK, n0 + 0..BN]
#endif

var<workgroup> As: array<f16, SLICES * BM * BK>;
var<workgroup> Bs: array<f16, SLICES * BK * BN>;
var<workgroup> Cs: array<f32, NSG * SM * SN>;

// Copy the slice k0.. of the tile at (m0, n0) into buffer `buf` of As/Bs as f16; run q covers elements
// 4q..4q+3.
fn loadSlices(m0: u32, n0: u32, k0: u32, lid: u32, buf: u32) {
  let ao = buf * BM * BK;
  let bo = buf * BK * BN;
  for (var q = lid; q < BM * BK / 4u; q += WG) {
    let r = q / (A_LD / 4u);
    let c = (q % (A_LD / 4u)) * 4u;
#if TRANS_A
    let v = vec4<f16>(loadA4(k0 + r, m0 + c));
#else
    let v = vec4<f16>(loadA4(m0 + r, k0 + c));
#endif
    As[ao + 4u * q] = v.x;
    As[ao + 4u * q + 1u] = v.y;
    As[ao + 4u * q + 2u] = v.z;
    As[ao + 4u * q + 3u] = v.w;
  }
#if B_RUN8
  // 4-bit quantized B: runs of 8, each one code word and one scale (B_LD is a multiple of 8: BK of SK,
  // BN of SN).
  for (var q = lid; q < BK * BN / 8u; q += WG) {
    let r = q / (B_LD / 8u);
    let c = (q % (B_LD / 8u)) * 8u;
#if TRANS_B
    let v = loadB8(n0 + r, k0 + c);
#else
    let v = loadB8(k0 + r, n0 + c);
#endif
    let lo = vec4<f16>(v[0]);
    let hi = vec4<f16>(v[1]);
    Bs[bo + 8u * q] = lo.x;
    Bs[bo + 8u * q + 1u] = lo.y;
    Bs[bo + 8u * q + 2u] = lo.z;
    Bs[bo + 8u * q + 3u] = lo.w;
    Bs[bo + 8u * q + 4u] = hi.x;
    Bs[bo + 8u * q + 5u] = hi.y;
    Bs[bo + 8u * q + 6u] = hi.z;
    Bs[bo + 8u * q + 7u] = hi.w;
  }
#else
  for (var q = lid; q < BK * BN / 4u; q += WG) {
    let r = q / (B_LD / 4u);
    let c = (q % (B_LD / 4u)) * 4u;
#if TRANS_B
    let v = vec4<f16>(loadB4(n0 + r, k0 + c));
#else
    let v = vec4<f16>(loadB4(k0 + r, n0 + c));
#endif
    Bs[bo + 4u * q] = v.x;
    Bs[bo + 4u * q + 1u] = v.y;
    Bs[bo + 4u * q + 2u] = v.z;
    Bs[bo + 4u * q + 3u] = v.w;
  }
#endif
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_id) sg: u32,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) sgSize: u32,
) {
  let m0 = (p.tileRow0 + wid.y + wid.z * p.foldY) * BM;
  let n0 = (p.tileCol0 + wid.x) * BN;
  if (m0 >= p.M) { return; } // whole workgroup: padding of a folded grid
  let computes = sg < NSG;
  let sgm = (sg / WN) * TM * SM; // first row of this subgroup's results within the tile
  let sgn = (sg % WN) * TN * SN;
  let direct = m0 + BM <= p.M && n0 + BN <= p.N && (p.N & 3u) == 0u && p.alpha == 1.0 &&
    (p.beta == 0.0 || p.beta == 1.0);
  var acc: array<subgroup_matrix_result<f32, SN, SM>, TM * TN>;
  if (direct && p.beta != 0.0 && computes) {
    for (var t = 0u; t < TM * TN; t++) {
      let off = (m0 + sgm + (t / TN) * SM) * p.N + n0 + sgn + (t % TN) * SN;
      acc[t] = subgroupMatrixLoad<subgroup_matrix_result<f32, SN, SM>, row_major>(&C, off, p.N);
    }
  }
#if DOUBLE
  loadSlices(m0, n0, 0u, lid, 0u);
  workgroupBarrier();
#endif
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
#if DOUBLE
    // Slice s + 1 goes into the buffer slice s - 1 used; the barrier ending step s - 1 freed it.
    let buf = (k0 / BK) % 2u;
    if (k0 + BK < p.K) {
      loadSlices(m0, n0, k0 + BK, lid, 1u - buf);
    }
#else
    let buf = 0u;
    loadSlices(m0, n0, k0, lid, 0u);
    workgroupBarrier();
#endif
    let ao = buf * BM * BK;
    let bo = buf * BK * BN;
    if (computes) {
      for (var kk = 0u; kk < BK; kk += SK) {
        var a: array<subgroup_matrix_left<f16, SK, SM>, TM>;
        for (var tm = 0u; tm < TM; tm++) {
          let r = sgm + tm * SM;
#if TRANS_A
          a[tm] = subgroupMatrixLoad<subgroup_matrix_left<f16, SK, SM>, col_major>(&As, ao + kk * A_LD + r, A_LD);
#else
          a[tm] = subgroupMatrixLoad<subgroup_matrix_left<f16, SK, SM>, row_major>(&As, ao + r * A_LD + kk, A_LD);
#endif
        }
        for (var tn = 0u; tn < TN; tn++) {
          let c = sgn + tn * SN;
#if TRANS_B
          let b = subgroupMatrixLoad<subgroup_matrix_right<f16, SN, SK>, col_major>(&Bs, bo + c * B_LD + kk, B_LD);
#else
          let b = subgroupMatrixLoad<subgroup_matrix_right<f16, SN, SK>, row_major>(&Bs, bo + kk * B_LD + c, B_LD);
#endif
          for (var tm = 0u; tm < TM; tm++) {
            acc[tm * TN + tn] = subgroupMatrixMultiplyAccumulate(a[tm], b, acc[tm * TN + tn]);
          }
        }
      }
    }
    workgroupBarrier();
  }
  for (var t = 0u; t < TM * TN; t++) {
    let mr = m0 + sgm + (t / TN) * SM;
    let nc = n0 + sgn + (t % TN) * SN;
    if (direct) {
      if (computes) { subgroupMatrixStore<row_major>(&C, mr * p.N + nc, acc[t], p.N); }
    } else {
      if (computes) { subgroupMatrixStore<row_major>(&Cs, sg * SM * SN, acc[t], SN); }
      workgroupBarrier();
      if (computes) {
        for (var e = lane; e < SM * SN; e += sgSize) {
          let m = mr + e / SN;
          let n = nc + e % SN;
          if (m < p.M && n < p.N) { storeC(m, n, Cs[sg * SM * SN + e]); }
        }
      }
      workgroupBarrier();
    }
  }
}
