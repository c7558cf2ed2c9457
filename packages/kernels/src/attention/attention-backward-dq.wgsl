#if SUBGROUPS
enable subgroups;
diagnostic(off, subgroup_uniformity);
#endif
// Flash-attention backward, dQ (shapes in attention-backward.ts). Laid out like the forward: each
// query row on LANES adjacent invocations, ROWS rows of one head per workgroup, keys and values
// streamed through workgroup memory in tiles of KT. Per visible key j, with p_j recomputed from lse:
//   dq += p_j (dOut . v_j - D) k_j,  then dq *= scale.
// The wrapper appends `const HD, HD4, HD4P, LANES, CHUNKS, KT, WG, ROWS` and the row chunk access
// (load_q4 ..., store_dq4) from attention-rows.ts.

// Bindings 0-6 (p, q, k, v, dout, stats, mask_table): attention-backward-inputs.wgsl.
@group(0) @binding(7) var<storage, read_write> dq: array<f32>;

var<workgroup> k_tile: array<vec4f, KT * HD4P>;
var<workgroup> v_tile: array<vec4f, KT * HD4P>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
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

  let i0 = tile * ROWS;
  let qt = query_tile(m, causal, i0, ROWS);

  let lane = lid % LANES;
  let i = i0 + lid / LANES;
  let live = i >= m.vs && i < m.ve;
  let q_base = (b * p.seq + i) * p.nh * HD + h * HD;
  let bt = p.batch * p.seq;
  var row_lse = 0.0;
  var row_d = 0.0;
  if (live) {
    row_lse = stats[h * bt + b * p.seq + i];
    row_d = stats[(p.nh + h) * bt + b * p.seq + i];
  }
  let nc = chunk_count();
  var qr: array<vec4f, CHUNKS>;
  var dor: array<vec4f, CHUNKS>;
  var acc: array<vec4f, CHUNKS>;
  for (var cl = 0u; cl < nc; cl++) {
    acc[cl] = vec4f(0.0);
    qr[cl] = vec4f(0.0);
    dor[cl] = vec4f(0.0);
    if (live && chunk(cl, lane) < HD4) {
      qr[cl] = load_q4(q_base, chunk(cl, lane)) * p.scale;
      dor[cl] = load_do4(q_base, chunk(cl, lane));
    }
  }

  for (var t0 = m.vs; t0 < qt.k_end; t0 += KT) {
    let t1 = min(t0 + KT, qt.k_end);
    if (skips_keys(qt, m, t0, t1)) {
      continue;
    }
    workgroupBarrier();
    for (var e = lid; e < KT * HD4P; e += WG) {
      let j = t0 + e / HD4P;
      let c = e % HD4P;
      var kk = vec4f(0.0);
      var vv = vec4f(0.0);
      if (j < t1 && c < HD4) {
        let base = (b * p.seq + j) * p.nkv * HD + kvh * HD;
        kk = load_k4(base, c);
        vv = load_v4(base, c);
      }
      k_tile[e] = kk;
      v_tile[e] = vv;
    }
    workgroupBarrier();
    for (var jj = 0u; jj < t1 - t0; jj++) {
      var sd = vec4f(0.0);
      var dpd = vec4f(0.0);
      for (var cl = 0u; cl < nc; cl++) {
        sd = fma(qr[cl], k_tile[jj * HD4P + chunk(cl, lane)], sd);
        dpd = fma(dor[cl], v_tile[jj * HD4P + chunk(cl, lane)], dpd);
      }
      let r = row_sum2(vec2f(hsum(sd), hsum(dpd)));
      let ok = live && sees(m, causal, i, t0 + jj);
      let pj = select(0.0, exp(r.x - row_lse), ok);
      let ds = pj * (r.y - row_d);
      for (var cl = 0u; cl < nc; cl++) {
        acc[cl] = fma(vec4f(ds), k_tile[jj * HD4P + chunk(cl, lane)], acc[cl]);
      }
    }
  }

  if (i < p.seq) {
    for (var cl = 0u; cl < nc; cl++) {
      store_dq4(q_base, chunk(cl, lane), acc[cl] * p.scale);
    }
  }
}
