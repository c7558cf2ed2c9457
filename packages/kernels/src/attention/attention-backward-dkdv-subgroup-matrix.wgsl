// dK and dV of attention on f16 subgroup matrices (tensor cores). A workgroup takes BK = NSG * SM key
// rows of one (sequence, kv head); subgroup sg accumulates dK and dV of its SM keys over the queries
// of every head sharing the kv head, streamed in tiles of BQ2. Per query tile, on the matrices:
// S^T = k (scale q)^T and dP'^T = v dOut'^T (dOut' = dOut / c, c the kv group's dOut scale); per key on
// its own invocation: P = exp(S - lse) and dS' = P (dP' - D / c), rounded to f16; then
// dV' += P dOut' and dK' += dS' (scale q) on the matrices. Finally dv = c dV', dk = c dK'.
// Same query range and tile skipping as attention-backward-dkdv.wgsl; stats = [lse | D | amax | c].
// The wrapper appends `const HD` (a multiple of 16, <= 128).
//
// Verified on real hardware only on the H100 (benchmarks/gpu/run-all.sh); everywhere else its index
// arithmetic is verified by attention-backward-subgroup-matrix.emu.ts, a line-by-line TS
// transcription that must be kept in step with this file.
enable chromium_experimental_subgroup_matrix;
enable f16;
diagnostic(off, chromium.subgroup_matrix_uniformity);

// SM, SN, SK: common/subgroup-matrix-sides.wgsl.
const NSG = 2u;
const BK = NSG * SM;
const BQ2 = 32u;
const TS = BQ2 / SN;
const TO = HD / SN;
override WG: u32 = 64u;

// Bindings 0-6 (p, q, k, v, dout, stats, mask_table): attention-backward-inputs.wgsl.
@group(0) @binding(7) var<storage, read_write> dk: array<f32>;
@group(0) @binding(8) var<storage, read_write> dv: array<f32>;

var<workgroup> Ks: array<f16, BK * HD>;
var<workgroup> Vs: array<f16, BK * HD>;
var<workgroup> Qs: array<f16, BQ2 * HD>; // scale * q
var<workgroup> Os: array<f16, BQ2 * HD>; // dOut / c
var<workgroup> Ss: array<f32, BK * BQ2>; // S^T (keys x queries), then the output scratch
var<workgroup> Ds: array<f32, BK * BQ2>; // dP'^T
var<workgroup> Ps: array<f16, BK * BQ2>;
var<workgroup> Gs: array<f16, BK * BQ2>; // dS'^T

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
  let kvh = (flat / p.tiles) % p.nkv;
  let b = flat / (p.tiles * p.nkv);
  let group = p.nh / p.nkv;
  let m = seq_mask(b);
  let causal = p.causal != 0u;
  let computes = sg < NSG;
  let rows = p.batch * p.seq;
  let count = p.nh * rows;
  let c = stats[3u * count + kvh];

  // As attention-backward-dkdv.wgsl: valid keys [c0, c1), the query rows that may see any of them.
  let j0 = tile * BK;
  let c0 = max(j0, m.vs);
  let c1 = min(j0 + BK, m.ve);
  var q_start = m.vs;
  if (causal) {
    q_start = max(q_start, c0);
  }
  var q_end = m.ve;
  if (c1 <= c0) {
    q_end = q_start;
  }
  let keys_in_a = c0 >= m.a0 && c1 <= m.a1;

  for (var e = lid; e < BK * HD; e += WG) {
    let j = j0 + e / HD;
    var kk = 0.0;
    var vv = 0.0;
    if (j >= m.vs && j < m.ve) {
      let idx = (b * p.seq + j) * p.nkv * HD + kvh * HD + e % HD;
      kk = k[idx];
      vv = v[idx];
    }
    Ks[e] = f16(kk);
    Vs[e] = f16(vv);
  }
  let j = j0 + lid;
  let owns = lid < BK;
  let live = owns && j >= m.vs && j < m.ve;

  var acc_k: array<subgroup_matrix_result<f32, SN, SM>, TO>;
  var acc_v: array<subgroup_matrix_result<f32, SN, SM>, TO>;
  for (var hh = 0u; hh < group; hh++) {
    let h = kvh * group + hh;
    for (var t0 = q_start; t0 < q_end; t0 += BQ2) {
      let t1 = min(t0 + BQ2, q_end);
      if (keys_in_a && t0 >= m.b0 && t1 <= m.b1) {
        continue;
      }
      workgroupBarrier();
      for (var e = lid; e < BQ2 * HD; e += WG) {
        let i = t0 + e / HD;
        var x = 0.0;
        var o = 0.0;
        if (i < t1) {
          let idx = (b * p.seq + i) * p.nh * HD + h * HD + e % HD;
          x = q[idx] * p.scale;
          o = dout[idx] / c;
        }
        Qs[e] = f16(x);
        Os[e] = f16(o);
      }
      workgroupBarrier();
      if (computes) {
        var s: array<subgroup_matrix_result<f32, SN, SM>, TS>;
        var dp: array<subgroup_matrix_result<f32, SN, SM>, TS>;
        for (var kk = 0u; kk < HD; kk += SK) {
          let ak = subgroupMatrixLoad<subgroup_matrix_left<f16, SK, SM>, row_major>(&Ks, sg * SM * HD + kk, HD);
          let av = subgroupMatrixLoad<subgroup_matrix_left<f16, SK, SM>, row_major>(&Vs, sg * SM * HD + kk, HD);
          for (var t = 0u; t < TS; t++) {
            let bq = subgroupMatrixLoad<subgroup_matrix_right<f16, SN, SK>, col_major>(&Qs, t * SN * HD + kk, HD);
            let bo = subgroupMatrixLoad<subgroup_matrix_right<f16, SN, SK>, col_major>(&Os, t * SN * HD + kk, HD);
            s[t] = subgroupMatrixMultiplyAccumulate(ak, bq, s[t]);
            dp[t] = subgroupMatrixMultiplyAccumulate(av, bo, dp[t]);
          }
        }
        for (var t = 0u; t < TS; t++) {
          subgroupMatrixStore<row_major>(&Ss, sg * SM * BQ2 + t * SN, s[t], BQ2);
          subgroupMatrixStore<row_major>(&Ds, sg * SM * BQ2 + t * SN, dp[t], BQ2);
        }
      }
      workgroupBarrier();
      if (owns) {
        for (var ii = 0u; ii < BQ2; ii++) {
          var pj = 0.0;
          var ds = 0.0;
          let i = t0 + ii;
          if (live && ii < t1 - t0 && sees(m, causal, i, j)) {
            let row_lse = stats[h * rows + b * p.seq + i];
            if (row_lse > NEG) {
              pj = exp(Ss[lid * BQ2 + ii] - row_lse);
              ds = pj * (Ds[lid * BQ2 + ii] - stats[count + h * rows + b * p.seq + i] / c);
            }
          }
          Ps[lid * BQ2 + ii] = f16(pj);
          Gs[lid * BQ2 + ii] = f16(ds);
        }
      }
      workgroupBarrier();
      if (computes) {
        for (var kk = 0u; kk < BQ2; kk += SK) {
          let ap = subgroupMatrixLoad<subgroup_matrix_left<f16, SK, SM>, row_major>(&Ps, sg * SM * BQ2 + kk, BQ2);
          let ag = subgroupMatrixLoad<subgroup_matrix_left<f16, SK, SM>, row_major>(&Gs, sg * SM * BQ2 + kk, BQ2);
          for (var t = 0u; t < TO; t++) {
            let bo = subgroupMatrixLoad<subgroup_matrix_right<f16, SN, SK>, row_major>(&Os, kk * HD + t * SN, HD);
            let bq = subgroupMatrixLoad<subgroup_matrix_right<f16, SN, SK>, row_major>(&Qs, kk * HD + t * SN, HD);
            acc_v[t] = subgroupMatrixMultiplyAccumulate(ap, bo, acc_v[t]);
            acc_k[t] = subgroupMatrixMultiplyAccumulate(ag, bq, acc_k[t]);
          }
        }
      }
    }
  }

  for (var t = 0u; t < TO; t++) {
    for (var which = 0u; which < 2u; which++) {
      workgroupBarrier();
      if (computes) {
        if (which == 0u) {
          subgroupMatrixStore<row_major>(&Ss, sg * SM * SN, acc_k[t], SN);
        } else {
          subgroupMatrixStore<row_major>(&Ss, sg * SM * SN, acc_v[t], SN);
        }
      }
      workgroupBarrier();
      if (computes) {
        for (var e = lane; e < SM * SN; e += sgSize) {
          let key = j0 + sg * SM + e / SN;
          if (key < p.seq) {
            let idx = (b * p.seq + key) * p.nkv * HD + kvh * HD + t * SN + e % SN;
            let x = Ss[sg * SM * SN + e] * c;
            if (which == 0u) {
              dk[idx] = x;
            } else {
              dv[idx] = x;
            }
          }
        }
      }
    }
  }
}
