// dQ of attention on f16 subgroup matrices (tensor cores). A workgroup takes BQ = NSG * SM query rows of
// one (sequence, head); keys stream through workgroup memory in tiles of BKV. Per tile, on the matrices:
// S = (scale q) k^T and dP' = dOut' v^T, with dOut' = dOut / c (c: the kv group's dOut scale, so that
// dOut' survives rounding to f16); per row on its own invocation: P = exp(S - lse) and
// dS' = P (dP' - D / c), rounded to f16; then dQ' += dS' k on the matrices. Finally dq = scale c dQ'.
// Same mask, key range and tile skipping as the forward; stats = [lse | D | amax | c] (stats and scale
// kernels). The wrapper appends `const HD` (a multiple of 16, <= 128).
//
// Verified on real hardware only on the H100 (benchmarks/gpu/run-all.sh); everywhere else its index
// arithmetic is verified by attention-backward-subgroup-matrix.emu.ts, a line-by-line TS
// transcription that must be kept in step with this file.
enable chromium_experimental_subgroup_matrix;
enable f16;
diagnostic(off, chromium.subgroup_matrix_uniformity);

// SM, SN, SK: common/subgroup-matrix-sides.wgsl.
const NSG = 2u;
const BQ = NSG * SM;
const BKV = 32u;
const TS = BKV / SN;
const TO = HD / SN;
override WG: u32 = 64u;

// Bindings 0-6 (p, q, k, v, dout, stats, mask_table): attention-backward-inputs.wgsl.
@group(0) @binding(7) var<storage, read_write> dq: array<f32>;

var<workgroup> Qs: array<f16, BQ * HD>; // scale * q
var<workgroup> Os: array<f16, BQ * HD>; // dOut / c
var<workgroup> Ks: array<f16, BKV * HD>;
var<workgroup> Vs: array<f16, BKV * HD>;
var<workgroup> Ss: array<f32, BQ * BKV>; // S, then the output scratch
var<workgroup> Ds: array<f32, BQ * BKV>; // dP'
var<workgroup> Gs: array<f16, BQ * BKV>; // dS'

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_id) sg: u32,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) sgSize: u32,
) {
  let flat = p.first + wid.x + wid.y * p.nx;
  if (flat >= p.end) {
    return;
  }
  let tile = flat % p.tiles;
  let h = (flat / p.tiles) % p.nh;
  let b = flat / (p.tiles * p.nh);
  let kvh = h / (p.nh / p.nkv);
  let m = seq_mask(b);
  let causal = p.causal != 0u;
  let computes = sg < NSG;
  let rows = p.batch * p.seq;
  let count = p.nh * rows;
  let c = stats[3u * count + kvh];

  let i0 = tile * BQ;
  let qt = query_tile(m, causal, i0, BQ);
  for (var e = lid; e < BQ * HD; e += WG) {
    let i = i0 + e / HD;
    var x = 0.0;
    var o = 0.0;
    if (i >= m.vs && i < m.ve) {
      let idx = (b * p.seq + i) * p.nh * HD + h * HD + e % HD;
      x = q[idx] * p.scale;
      o = dout[idx] / c;
    }
    Qs[e] = f16(x);
    Os[e] = f16(o);
  }
  let i = i0 + lid;
  let owns = lid < BQ;
  let live = owns && i >= m.vs && i < m.ve;
  var row_lse = NEG;
  var row_d = 0.0;
  if (live) {
    row_lse = stats[h * rows + b * p.seq + i];
    row_d = stats[count + h * rows + b * p.seq + i] / c;
  }

  var acc: array<subgroup_matrix_result<f32, SN, SM>, TO>;
  for (var t0 = m.vs; t0 < qt.k_end; t0 += BKV) {
    let t1 = min(t0 + BKV, qt.k_end);
    if (skips_keys(qt, m, t0, t1)) {
      continue;
    }
    workgroupBarrier();
    for (var e = lid; e < BKV * HD; e += WG) {
      let j = t0 + e / HD;
      var kk = 0.0;
      var vv = 0.0;
      if (j < t1) {
        let idx = (b * p.seq + j) * p.nkv * HD + kvh * HD + e % HD;
        kk = k[idx];
        vv = v[idx];
      }
      Ks[e] = f16(kk);
      Vs[e] = f16(vv);
    }
    workgroupBarrier();
    if (computes) {
      var s: array<subgroup_matrix_result<f32, SN, SM>, TS>;
      var dp: array<subgroup_matrix_result<f32, SN, SM>, TS>;
      for (var kk = 0u; kk < HD; kk += SK) {
        let a = subgroupMatrixLoad<subgroup_matrix_left<f16, SK, SM>, row_major>(&Qs, sg * SM * HD + kk, HD);
        let ao = subgroupMatrixLoad<subgroup_matrix_left<f16, SK, SM>, row_major>(&Os, sg * SM * HD + kk, HD);
        for (var t = 0u; t < TS; t++) {
          let bk = subgroupMatrixLoad<subgroup_matrix_right<f16, SN, SK>, col_major>(&Ks, t * SN * HD + kk, HD);
          let bv = subgroupMatrixLoad<subgroup_matrix_right<f16, SN, SK>, col_major>(&Vs, t * SN * HD + kk, HD);
          s[t] = subgroupMatrixMultiplyAccumulate(a, bk, s[t]);
          dp[t] = subgroupMatrixMultiplyAccumulate(ao, bv, dp[t]);
        }
      }
      for (var t = 0u; t < TS; t++) {
        subgroupMatrixStore<row_major>(&Ss, sg * SM * BKV + t * SN, s[t], BKV);
        subgroupMatrixStore<row_major>(&Ds, sg * SM * BKV + t * SN, dp[t], BKV);
      }
    }
    workgroupBarrier();
    if (owns) {
      for (var jj = 0u; jj < BKV; jj++) {
        var ds = 0.0;
        if (live && jj < t1 - t0 && row_lse > NEG && sees(m, causal, i, t0 + jj)) {
          let pj = exp(Ss[lid * BKV + jj] - row_lse);
          ds = pj * (Ds[lid * BKV + jj] - row_d);
        }
        Gs[lid * BKV + jj] = f16(ds);
      }
    }
    workgroupBarrier();
    if (computes) {
      for (var kk = 0u; kk < BKV; kk += SK) {
        let a = subgroupMatrixLoad<subgroup_matrix_left<f16, SK, SM>, row_major>(&Gs, sg * SM * BKV + kk, BKV);
        for (var t = 0u; t < TO; t++) {
          let bm = subgroupMatrixLoad<subgroup_matrix_right<f16, SN, SK>, row_major>(&Ks, kk * HD + t * SN, HD);
          acc[t] = subgroupMatrixMultiplyAccumulate(a, bm, acc[t]);
        }
      }
    }
  }

  let factor = p.scale * c;
  for (var t = 0u; t < TO; t++) {
    workgroupBarrier();
    if (computes) {
      subgroupMatrixStore<row_major>(&Ss, sg * SM * SN, acc[t], SN);
    }
    workgroupBarrier();
    if (computes) {
      for (var e = lane; e < SM * SN; e += sgSize) {
        let row = i0 + sg * SM + e / SN;
        if (row < p.seq) {
          dq[(b * p.seq + row) * p.nh * HD + h * HD + t * SN + e % SN] = Ss[sg * SM * SN + e] * factor;
        }
      }
    }
  }
}
