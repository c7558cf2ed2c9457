#if SUBGROUPS
enable subgroups;
diagnostic(off, subgroup_uniformity);
#endif
// Flash-attention backward, dK and dV (shapes in attention-backward.ts). Each key row of one kv head
// is handled by LANES adjacent invocations, ROWS keys per workgroup; the query rows of every head
// that reads this kv head (GQA) stream through workgroup memory in tiles of QT, so heads are summed
// here without atomics. Per visible (query i, key j), with p recomputed from lse:
//   dv_j += p dOut_i;  dk_j += p (dOut_i . v_j - D_i) q_i,  then dk *= scale.
// The wrapper appends `const HD, HD4, HD4P, LANES, CHUNKS, QT, WG, ROWS` and the row chunk access
// (load_q4 ..., store_dk4, store_dv4) from attention-rows.ts.

// Bindings 0-6 (p, q, k, v, dout, stats, mask_table): attention-backward-inputs.wgsl.
@group(0) @binding(7) var<storage, read_write> dk: array<f32>;
@group(0) @binding(8) var<storage, read_write> dv: array<f32>;

var<workgroup> q_tile: array<vec4f, QT * HD4P>;
var<workgroup> do_tile: array<vec4f, QT * HD4P>;
var<workgroup> lse_tile: array<f32, QT>;
var<workgroup> d_tile: array<f32, QT>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
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
  let bt = p.batch * p.seq;

  // Valid keys of this workgroup [c0, c1) and the query rows that may see any of them.
  let j0 = tile * ROWS;
  let c0 = max(j0, m.vs);
  let c1 = min(j0 + ROWS, m.ve);
  var q_start = m.vs;
  if (causal) {
    q_start = max(q_start, c0);
  }
  var q_end = m.ve;
  if (c1 <= c0) {
    q_end = q_start;
  }
  // Every key is in block A: query tiles inside block B cannot see any of them.
  let keys_in_a = c0 >= m.a0 && c1 <= m.a1;

  let lane = lid % LANES;
  let j = j0 + lid / LANES;
  let live = j >= m.vs && j < m.ve;
  let k_base = (b * p.seq + j) * p.nkv * HD + kvh * HD;
  let nc = chunk_count();
  var kr: array<vec4f, CHUNKS>;
  var vr: array<vec4f, CHUNKS>;
  var dka: array<vec4f, CHUNKS>;
  var dva: array<vec4f, CHUNKS>;
  for (var cl = 0u; cl < nc; cl++) {
    kr[cl] = vec4f(0.0);
    vr[cl] = vec4f(0.0);
    dka[cl] = vec4f(0.0);
    dva[cl] = vec4f(0.0);
    if (live && chunk(cl, lane) < HD4) {
      kr[cl] = load_k4(k_base, chunk(cl, lane));
      vr[cl] = load_v4(k_base, chunk(cl, lane));
    }
  }

  for (var hh = 0u; hh < group; hh++) {
    let h = kvh * group + hh;
    for (var t0 = q_start; t0 < q_end; t0 += QT) {
      let t1 = min(t0 + QT, q_end);
      if (keys_in_a && t0 >= m.b0 && t1 <= m.b1) {
        continue;
      }
      workgroupBarrier();
      for (var e = lid; e < QT * HD4P; e += WG) {
        let i = t0 + e / HD4P;
        let c = e % HD4P;
        var qq = vec4f(0.0);
        var dd = vec4f(0.0);
        if (i < t1 && c < HD4) {
          let base = (b * p.seq + i) * p.nh * HD + h * HD;
          qq = load_q4(base, c);
          dd = load_do4(base, c);
        }
        q_tile[e] = qq;
        do_tile[e] = dd;
      }
      for (var e = lid; e < QT; e += WG) {
        let i = min(t0 + e, t1 - 1u);
        lse_tile[e] = stats[h * bt + b * p.seq + i];
        d_tile[e] = stats[(p.nh + h) * bt + b * p.seq + i];
      }
      workgroupBarrier();
      for (var ii = 0u; ii < t1 - t0; ii++) {
        var sd = vec4f(0.0);
        var dpd = vec4f(0.0);
        for (var cl = 0u; cl < nc; cl++) {
          sd = fma(q_tile[ii * HD4P + chunk(cl, lane)], kr[cl], sd);
          dpd = fma(do_tile[ii * HD4P + chunk(cl, lane)], vr[cl], dpd);
        }
        let r = row_sum2(vec2f(hsum(sd), hsum(dpd)));
        let ok = live && sees(m, causal, t0 + ii, j);
        let pij = select(0.0, exp(p.scale * r.x - lse_tile[ii]), ok);
        let ds = pij * (r.y - d_tile[ii]);
        for (var cl = 0u; cl < nc; cl++) {
          dva[cl] = fma(vec4f(pij), do_tile[ii * HD4P + chunk(cl, lane)], dva[cl]);
          dka[cl] = fma(vec4f(ds), q_tile[ii * HD4P + chunk(cl, lane)], dka[cl]);
        }
      }
    }
  }

  if (j < p.seq) {
    for (var cl = 0u; cl < nc; cl++) {
      store_dk4(k_base, chunk(cl, lane), dka[cl] * p.scale);
      store_dv4(k_base, chunk(cl, lane), dva[cl]);
    }
  }
}
