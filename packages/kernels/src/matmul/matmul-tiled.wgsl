// Workgroup-memory tiled matmul for real GPUs: a workgroup computes a BM x BN tile of C, staging
// BK-deep slices of op(A) and op(B) in workgroup memory; each invocation accumulates 8x8 outputs as
// four 4x4 blocks half a tile apart (rows ty*4.. and BM/2 + ty*4..), so its workgroup-memory reads are
// vec4s that neighbouring invocations do not contend for. The next slice is loaded into registers
// while the current one is multiplied. Shapes and layouts: see matmul-common.wgsl.
// TILE128: 128x128 tiles, 256 invocations (large products); otherwise 64x64, 64 invocations.

#if TILE128
const BM = 128u;
const BN = 128u;
#else
const BM = 64u;
const BN = 64u;
#endif
const BK = 8u;
const TX = BN / 8u; // invocations along n
const NT = (BM / 8u) * (BN / 8u);
const A_PER = (BK * BM / 4u) / NT; // vec4 chunks each invocation stages per slice
const B_PER = (BK * BN / 4u) / NT;

// As[k * BM/4 + m/4][m % 4] = op(A)(m0 + m, k0 + k); Bs likewise [k][n].
var<workgroup> As: array<vec4<f32>, BK * BM / 4u>;
var<workgroup> Bs: array<vec4<f32>, BK * BN / 4u>;
var<private> ra: array<vec4<f32>, A_PER>;
var<private> rb: array<vec4<f32>, B_PER>;

// Stage the slice k0.. of the tile at (m0, n0) in registers, reading A and B in their stored layout.
fn loadSlice(m0: u32, n0: u32, k0: u32, lid: u32) {
  for (var s = 0u; s < A_PER; s++) {
    let q = lid + s * NT;
#if TRANS_A
    ra[s] = loadA4(k0 + q / (BM / 4u), m0 + (q % (BM / 4u)) * 4u);
#else
    ra[s] = loadA4(m0 + q / (BK / 4u), k0 + (q % (BK / 4u)) * 4u);
#endif
  }
  for (var s = 0u; s < B_PER; s++) {
    let q = lid + s * NT;
#if TRANS_B
    rb[s] = loadB4(n0 + q / (BK / 4u), k0 + (q % (BK / 4u)) * 4u);
#else
    rb[s] = loadB4(k0 + q / (BN / 4u), n0 + (q % (BN / 4u)) * 4u);
#endif
  }
}

// Write the staged registers into As/Bs ([k][m] and [k][n], transposing runs that ran along k).
fn storeSlice(lid: u32) {
  for (var s = 0u; s < A_PER; s++) {
    let q = lid + s * NT;
#if TRANS_A
    As[q] = ra[s];
#else
    let m = q / (BK / 4u);
    let k = (q % (BK / 4u)) * 4u;
    for (var i = 0u; i < 4u; i++) { As[(k + i) * (BM / 4u) + m / 4u][m % 4u] = ra[s][i]; }
#endif
  }
  for (var s = 0u; s < B_PER; s++) {
    let q = lid + s * NT;
#if TRANS_B
    let n = q / (BK / 4u);
    let k = (q % (BK / 4u)) * 4u;
    for (var i = 0u; i < 4u; i++) { Bs[(k + i) * (BN / 4u) + n / 4u][n % 4u] = rb[s][i]; }
#else
    Bs[q] = rb[s];
#endif
  }
}

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m0 = (wid.y + wid.z * p.foldY) * BM;
  let n0 = wid.x * BN;
  if (m0 >= p.M) { return; } // whole workgroup: padding of a folded grid
  let tx = lid % TX;
  let ty = lid / TX;
  // acc[(hm * 4 + i) * 2 + hn][j] = C(m0 + hm * BM/2 + ty*4 + i, n0 + hn * BN/2 + tx*4 + j)
  var acc: array<vec4<f32>, 16>;
  let slices = (p.K + BK - 1u) / BK;
  loadSlice(m0, n0, 0u, lid);
  for (var t = 0u; t < slices; t++) {
    workgroupBarrier();
    storeSlice(lid);
    workgroupBarrier();
    if (t + 1u < slices) { loadSlice(m0, n0, (t + 1u) * BK, lid); }
    for (var k = 0u; k < BK; k++) {
      let a0 = As[k * (BM / 4u) + ty];
      let a1 = As[k * (BM / 4u) + BM / 8u + ty];
      let b0 = Bs[k * (BN / 4u) + tx];
      let b1 = Bs[k * (BN / 4u) + BN / 8u + tx];
      for (var i = 0u; i < 4u; i++) {
        acc[i * 2u] += a0[i] * b0;
        acc[i * 2u + 1u] += a0[i] * b1;
        acc[(4u + i) * 2u] += a1[i] * b0;
        acc[(4u + i) * 2u + 1u] += a1[i] * b1;
      }
    }
  }
  for (var hm = 0u; hm < 2u; hm++) {
    for (var i = 0u; i < 4u; i++) {
      let m = m0 + hm * (BM / 2u) + ty * 4u + i;
      if (m >= p.M) { continue; }
      for (var hn = 0u; hn < 2u; hn++) {
        let v = acc[(hm * 4u + i) * 2u + hn];
        for (var j = 0u; j < 4u; j++) {
          let n = n0 + hn * (BN / 2u) + tx * 4u + j;
          if (n < p.N) { storeC(m, n, v[j]); }
        }
      }
    }
  }
}
