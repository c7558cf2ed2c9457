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

// Stage the slice k0.. of the tile at (m0, n0) in registers, in 4-element runs along each operand's
// contiguous (stored) dimension: op(A)'s slice is BM x BK, stored [BM][BK] or (transA) [BK][BM].
fn loadSlice(m0: u32, n0: u32, k0: u32, lid: u32) {
  let ta = p.transA != 0u;
  let tb = p.transB != 0u;
  let wa = select(BK / 4u, BM / 4u, ta); // runs per stored row of the slice
  let wb = select(BN / 4u, BK / 4u, tb);
  for (var s = 0u; s < A_PER; s++) {
    let q = lid + s * NT;
    ra[s] = loadA4(select(m0, k0, ta) + q / wa, select(k0, m0, ta) + (q % wa) * 4u);
  }
  for (var s = 0u; s < B_PER; s++) {
    let q = lid + s * NT;
    rb[s] = loadB4(select(k0, n0, tb) + q / wb, select(n0, k0, tb) + (q % wb) * 4u);
  }
}

// Write the staged runs into As/Bs ([k][m] and [k][n]), transposing runs that went along k.
fn storeSlice(lid: u32) {
  for (var s = 0u; s < A_PER; s++) {
    let q = lid + s * NT;
    if (p.transA != 0u) {
      As[q] = ra[s];
    } else {
      let m = q / (BK / 4u);
      let k = (q % (BK / 4u)) * 4u;
      for (var i = 0u; i < 4u; i++) { As[(k + i) * (BM / 4u) + m / 4u][m % 4u] = ra[s][i]; }
    }
  }
  for (var s = 0u; s < B_PER; s++) {
    let q = lid + s * NT;
    if (p.transB != 0u) {
      let n = q / (BK / 4u);
      let k = (q % (BK / 4u)) * 4u;
      for (var i = 0u; i < 4u; i++) { Bs[(k + i) * (BN / 4u) + n / 4u][n % 4u] = rb[s][i]; }
    } else {
      Bs[q] = rb[s];
    }
  }
}

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m0 = (p.tileRow0 + wid.y + wid.z * p.foldY) * BM;
  let n0 = (p.tileCol0 + wid.x) * BN;
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
  // One store statement for all 64 outputs (lavapipe expands each memory access into per-lane code);
  // the copy keeps the dynamic indexing away from the accumulators.
  let out = acc;
  for (var e = 0u; e < 64u; e++) {
    let r = e / 8u;
    let j = e % 8u;
    let m = m0 + (r / 4u) * (BM / 2u) + ty * 4u + r % 4u;
    let n = n0 + (j / 4u) * (BN / 2u) + tx * 4u + j % 4u;
    if (m < p.M && n < p.N) { storeC(m, n, out[r * 2u + j / 4u][j % 4u]); }
  }
}
