#if SUBGROUPS
enable subgroups;
diagnostic(off, subgroup_uniformity);
#endif
// Flash-attention forward (shapes in attention-forward.ts). Each query row is handled by LANES
// adjacent invocations (1 in the plain variant), ROWS rows of one head per workgroup; keys and values
// stream through workgroup memory in tiles of KT; online softmax with f32 accumulation, so no T x T
// matrix exists. The wrapper appends `const HD, HD4, HD4P, LANES, CHUNKS, KT, WG, ROWS`; row layout
// and loop rules in attention-lanes.wgsl, mask in attention-mask.wgsl.

var<workgroup> k_tile: array<vec4f, KT * HD4P>;
var<workgroup> v_tile: array<vec4f, KT * HD4P>;

// Chunk c (< HD4) of the row starting at `base`; a last partial chunk is zero-padded (indices are
// clamped to the row's last element, so nothing outside the row is read).
fn load_q4(base: u32, c: u32) -> vec4f {
  let d = base + 4u * c;
  if (HD % 4u == 0u) {
    return vec4f(q[d], q[d + 1u], q[d + 2u], q[d + 3u]);
  }
  let n = HD - 4u * c;
  return vec4f(
    q[d],
    select(0.0, q[d + min(1u, n - 1u)], n > 1u),
    select(0.0, q[d + min(2u, n - 1u)], n > 2u),
    select(0.0, q[d + min(3u, n - 1u)], n > 3u),
  );
}

// Chunk c (< HD4) of the row starting at `base`; a last partial chunk is zero-padded (indices are
// clamped to the row's last element, so nothing outside the row is read).
fn load_k4(base: u32, c: u32) -> vec4f {
  let d = base + 4u * c;
  if (HD % 4u == 0u) {
    return vec4f(k[d], k[d + 1u], k[d + 2u], k[d + 3u]);
  }
  let n = HD - 4u * c;
  return vec4f(
    k[d],
    select(0.0, k[d + min(1u, n - 1u)], n > 1u),
    select(0.0, k[d + min(2u, n - 1u)], n > 2u),
    select(0.0, k[d + min(3u, n - 1u)], n > 3u),
  );
}

// Chunk c (< HD4) of the row starting at `base`; a last partial chunk is zero-padded (indices are
// clamped to the row's last element, so nothing outside the row is read).
fn load_v4(base: u32, c: u32) -> vec4f {
  let d = base + 4u * c;
  if (HD % 4u == 0u) {
    return vec4f(v[d], v[d + 1u], v[d + 2u], v[d + 3u]);
  }
  let n = HD - 4u * c;
  return vec4f(
    v[d],
    select(0.0, v[d + min(1u, n - 1u)], n > 1u),
    select(0.0, v[d + min(2u, n - 1u)], n > 2u),
    select(0.0, v[d + min(3u, n - 1u)], n > 3u),
  );
}

// Stores chunk c of the row starting at `base`: all of a full chunk, part of a last partial one,
// nothing for a padding chunk (c >= HD4).
fn store_out4(base: u32, c: u32, x: vec4f) {
  let d = base + 4u * c;
  if (4u * c + 3u < HD) {
    out[d] = x.x;
    out[d + 1u] = x.y;
    out[d + 2u] = x.z;
    out[d + 3u] = x.w;
    return;
  }
  if (4u * c < HD) {
    out[d] = x.x;
  }
  if (4u * c + 1u < HD) {
    out[d + 1u] = x.y;
  }
  if (4u * c + 2u < HD) {
    out[d + 2u] = x.z;
  }
}

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
