#if SUBGROUPS
enable subgroups;
diagnostic(off, subgroup_uniformity);
#endif
// Flash-attention forward (shapes in attention-forward.ts). Each query row is handled by LANES
// adjacent invocations (1 in the plain variant), ROWS rows of one head per workgroup; keys and values
// stream through workgroup memory in tiles of KT; online softmax with f32 accumulation, so no T x T
// matrix exists. The wrapper appends `const HD, HD4, HD4P, LANES, CHUNKS, KT, WG, ROWS`; row layout
// and loop rules in attention-lanes.wgsl, mask in attention-mask.wgsl, row chunk access
// (load_q4 ...) from attention-rows.ts.

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
  let nc = chunk_count();
  var qr: array<vec4f, CHUNKS>;
  var acc: array<vec4f, CHUNKS>;
  for (var cl = 0u; cl < nc; cl++) {
    acc[cl] = vec4f(0.0);
    qr[cl] = vec4f(0.0);
    if (live && chunk(cl, lane) < HD4) {
      qr[cl] = load_q4(q_base, chunk(cl, lane)) * p.scale;
    }
  }
  var mx = NEG;
  var l = 0.0;

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
      var d4 = vec4f(0.0);
      for (var cl = 0u; cl < nc; cl++) {
        d4 = fma(qr[cl], k_tile[jj * HD4P + chunk(cl, lane)], d4);
      }
      let sc = row_sum(hsum(d4));
      let ok = live && sees(m, causal, i, t0 + jj);
      // Online softmax; the accumulator is rescaled only when the running max grows.
      if (ok && sc > mx) {
        let alpha = exp(mx - sc);
        l *= alpha;
        for (var cl = 0u; cl < nc; cl++) {
          acc[cl] *= alpha;
        }
        mx = sc;
      }
      let pj = select(0.0, exp(sc - mx), ok);
      l += pj;
      for (var cl = 0u; cl < nc; cl++) {
        acc[cl] = fma(vec4f(pj), v_tile[jj * HD4P + chunk(cl, lane)], acc[cl]);
      }
    }
  }

  if (i < p.seq) {
    var inv = 0.0;
    var row_lse = p.neg_inf;
    if (l > 0.0) {
      inv = 1.0 / l;
      row_lse = mx + log(l);
    }
    for (var cl = 0u; cl < nc; cl++) {
      store_out4(q_base, chunk(cl, lane), acc[cl] * inv);
    }
    if (lane == 0u) {
      lse[h * p.batch * p.seq + b * p.seq + i] = row_lse;
    }
  }
}
