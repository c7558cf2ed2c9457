// Flash-attention forward on f16 subgroup matrices (tensor cores), two passes over the keys so that no
// accumulator is ever rescaled (subgroup matrices are opaque: rows cannot be scaled in place):
//   pass 1: S = (scale q) k^T tile by tile on the matrices; each row's running max and sum of exp in
//           f32 on its own invocation -> lse (written out);
//   pass 2: S again, P = exp(S - lse) (already normalised, masked entries 0) rounded to f16, and
//           O += P v on the matrices, so O is the softmax-weighted sum with f32 accumulation.
// A workgroup takes BQ = NSG * SM query rows of one (sequence, head); keys stream through workgroup
// memory in tiles of BKV. q, k, v and p are rounded to f16 (the f32 kernel in attention-forward.wgsl
// is exact in f32): same outputs within f16 rounding. Layouts, lse, the mask and the skipped tiles
// are those of attention-forward.ts. The wrapper appends `const HD` (a multiple of 16, <= 128).
//
// Verified on real hardware only on the H100 (benchmarks/gpu/run-all.sh); everywhere else its index
// arithmetic is verified by attention-forward-subgroup-matrix.emu.ts, a line-by-line TS transcription
// that must be kept in step with this file.
enable chromium_experimental_subgroup_matrix;
enable f16;
// Subgroup-matrix calls sit in subgroup-uniform control flow (workgroup-uniform loops, branches on the
// subgroup id), which the analysis cannot prove.
diagnostic(off, chromium.subgroup_matrix_uniformity);

// SM, SN, SK: common/subgroup-matrix-sides.wgsl.
const NSG = 2u;
const BQ = NSG * SM;
const BKV = 32u;
const TS = BKV / SN; // score matrices per subgroup and key tile
const TO = HD / SN; // output matrices per subgroup
// NSG times the device's largest subgroup size; extra subgroups (a smaller runtime size) only copy.
override WG: u32 = 64u;

var<workgroup> Qs: array<f16, BQ * HD>; // scale * q rows i0.., zero outside the valid rows
var<workgroup> Ks: array<f16, BKV * HD>; // key rows t0.., zero past t1
var<workgroup> Vs: array<f16, BKV * HD>;
var<workgroup> Ss: array<f32, BQ * BKV>; // scores of the tile, row-major; also the output scratch
var<workgroup> Ps: array<f16, BQ * BKV>;

// Copies key (and, for pass 2, value) rows t0..t1 of kv head kvh into Ks/Vs as f16.
fn load_kv(b: u32, kvh: u32, t0: u32, t1: u32, lid: u32, with_v: bool) {
  for (var e = lid; e < BKV * HD; e += WG) {
    let j = t0 + e / HD;
    let d = e % HD;
    var kk = 0.0;
    var vv = 0.0;
    if (j < t1) {
      let idx = (b * p.seq + j) * p.nkv * HD + kvh * HD + d;
      kk = k[idx];
      if (with_v) {
        vv = v[idx];
      }
    }
    Ks[e] = f16(kk);
    Vs[e] = f16(vv);
  }
}

// Ss = Qs Ks^T for this subgroup's SM rows (f32 results).
fn scores(sg: u32) {
  var acc: array<subgroup_matrix_result<f32, SN, SM>, TS>;
  for (var kk = 0u; kk < HD; kk += SK) {
    let a = subgroupMatrixLoad<subgroup_matrix_left<f16, SK, SM>, row_major>(&Qs, sg * SM * HD + kk, HD);
    for (var t = 0u; t < TS; t++) {
      // Right operand [kk.., keys t*SN..]: Ks is key-major, so it is read column-major.
      let bm = subgroupMatrixLoad<subgroup_matrix_right<f16, SN, SK>, col_major>(&Ks, t * SN * HD + kk, HD);
      acc[t] = subgroupMatrixMultiplyAccumulate(a, bm, acc[t]);
    }
  }
  for (var t = 0u; t < TS; t++) {
    subgroupMatrixStore<row_major>(&Ss, sg * SM * BKV + t * SN, acc[t], BKV);
  }
}

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

  let i0 = tile * BQ;
  let qt = query_tile(m, causal, i0, BQ);

  for (var e = lid; e < BQ * HD; e += WG) {
    let i = i0 + e / HD;
    var x = 0.0;
    if (i >= m.vs && i < m.ve) {
      x = q[(b * p.seq + i) * p.nh * HD + h * HD + e % HD] * p.scale;
    }
    Qs[e] = f16(x);
  }

  // Invocation lid < BQ owns row i0 + lid in the scalar phases.
  let i = i0 + lid;
  let owns = lid < BQ;
  let live = owns && i >= m.vs && i < m.ve;
  var mx = NEG;
  var l = 0.0;
  for (var t0 = m.vs; t0 < qt.k_end; t0 += BKV) {
    let t1 = min(t0 + BKV, qt.k_end);
    if (skips_keys(qt, m, t0, t1)) {
      continue;
    }
    workgroupBarrier();
    load_kv(b, kvh, t0, t1, lid, false);
    workgroupBarrier();
    if (computes) {
      scores(sg);
    }
    workgroupBarrier();
    if (live) {
      for (var jj = 0u; jj < t1 - t0; jj++) {
        if (sees(m, causal, i, t0 + jj)) {
          let sc = Ss[lid * BKV + jj];
          if (sc > mx) {
            l *= exp(mx - sc);
            mx = sc;
          }
          l += exp(sc - mx);
        }
      }
    }
  }
  var row_lse = p.neg_inf;
  if (l > 0.0) {
    row_lse = mx + log(l);
  }
  if (owns && i < p.seq) {
    lse[h * p.batch * p.seq + b * p.seq + i] = row_lse;
  }

  var o: array<subgroup_matrix_result<f32, SN, SM>, TO>;
  for (var t0 = m.vs; t0 < qt.k_end; t0 += BKV) {
    let t1 = min(t0 + BKV, qt.k_end);
    if (skips_keys(qt, m, t0, t1)) {
      continue;
    }
    workgroupBarrier();
    load_kv(b, kvh, t0, t1, lid, true);
    workgroupBarrier();
    if (computes) {
      scores(sg);
    }
    workgroupBarrier();
    if (owns) {
      for (var jj = 0u; jj < BKV; jj++) {
        var pj = 0.0;
        if (live && jj < t1 - t0 && l > 0.0 && sees(m, causal, i, t0 + jj)) {
          pj = exp(Ss[lid * BKV + jj] - row_lse);
        }
        Ps[lid * BKV + jj] = f16(pj);
      }
    }
    workgroupBarrier();
    if (computes) {
      for (var kk = 0u; kk < BKV; kk += SK) {
        let a = subgroupMatrixLoad<subgroup_matrix_left<f16, SK, SM>, row_major>(&Ps, sg * SM * BKV + kk, BKV);
        for (var t = 0u; t < TO; t++) {
          let bm = subgroupMatrixLoad<subgroup_matrix_right<f16, SN, SK>, row_major>(&Vs, kk * HD + t * SN, HD);
          o[t] = subgroupMatrixMultiplyAccumulate(a, bm, o[t]);
        }
      }
    }
  }

  // Out, one SM x SN matrix at a time through this subgroup's part of Ss.
  for (var t = 0u; t < TO; t++) {
    workgroupBarrier();
    if (computes) {
      subgroupMatrixStore<row_major>(&Ss, sg * SM * SN, o[t], SN);
    }
    workgroupBarrier();
    if (computes) {
      for (var e = lane; e < SM * SN; e += sgSize) {
        let row = i0 + sg * SM + e / SN;
        if (row < p.seq) {
          out[(b * p.seq + row) * p.nh * HD + h * HD + t * SN + e % SN] = Ss[sg * SM * SN + e];
        }
      }
    }
  }
}
