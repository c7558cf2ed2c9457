/**
 * CPU emulation of matmul-subgroup-matrix.wgsl, for devices that cannot run it (everything but the
 * H100 this project tests on). It is a line-by-line transcription of the kernel: the same grid (folded
 * like the wrapper folds it), slice copies by every invocation, f16 rounding on the way into
 * workgroup memory (a quantized B decoded word-wise first, as weights.wgsl's wload4RC; weights.emu.ts),
 * subgroup-matrix loads with offset/stride/majorness, multiply-accumulate per
 * SM x SN x SK block in f32, and both epilogues (direct store, scratch + bounds-checked alpha/beta).
 * Every memory access is bounds-checked here, so an index that would read past a buffer on the GPU
 * throws instead. Keep it in step with the WGSL: the two are reviewed together.
 */
import { at, type Mat, matLoad, matMulAcc, matStore, put, toF16 } from '../common/subgroup-matrix.emu.ts';
import { type QuantWords, quantLoad4RC, quantLoad8RC } from '../common/weights.emu.ts';
import { type MatmulOptions, storedShapes, tileChunks, tileGrid } from './matmul-options.ts';
import {
  SUBGROUP_MATRIX_TILE,
  type SubgroupMatrixShape,
  type SubgroupMatrixTile,
  subgroupMatrixRun8,
} from './matmul-subgroup-matrix.ts';

export interface SubgroupMatrixEmulation {
  /** The device's f16 -> f32 matrix shape (8 or 16 per side). */
  shape: SubgroupMatrixShape;
  /** Subgroup size the device compiled for (its maximum); the workgroup is NSG times it. */
  maxSubgroupSize: number;
  /** Subgroup size at run time (<= maxSubgroupSize; smaller sizes leave extra subgroups idle). */
  subgroupSize?: number;
  /** Workgroups per grid dimension (small values exercise the folded grid). */
  maxWorkgroupsPerDim?: number;
  /** Output tiles per dispatch (small values exercise the split into several dispatches). */
  maxTilesPerDispatch?: number;
  /** Workgroup tiling (default `SUBGROUP_MATRIX_TILE`, as `matmul` without `smTile`). */
  tile?: SubgroupMatrixTile;
}

/**
 * Runs the subgroup-matrix kernel's algorithm on the CPU: C (f32 [M, N], updated in place) =
 * alpha * op(A) @ op(B) + beta * C. `b` holds B's values as stored (already decoded from f16/bf16),
 * or a block-quantized B's words, which the emulation decodes as the kernel does (weights.emu.ts).
 */
export function emulateMatmulSubgroupMatrix(
  a: ArrayLike<number>,
  b: ArrayLike<number> | QuantWords,
  c: Float32Array,
  o: MatmulOptions,
  emu: SubgroupMatrixEmulation,
): void {
  const { BM, BN, BK, WM, WN, double } = emu.tile ?? SUBGROUP_MATRIX_TILE;
  const NSG = WM * WN;
  const { M: SM, N: SN, K: SK } = emu.shape;
  const TM = BM / (WM * SM);
  const TN = BN / (WN * SN);
  if (!Number.isInteger(TM) || !Number.isInteger(TN)) throw new Error('emulation: tile does not divide');
  const SLICES = double ? 2 : 1;
  const WG = NSG * emu.maxSubgroupSize;
  const sgSize = emu.subgroupSize ?? emu.maxSubgroupSize;
  if (WG % sgSize !== 0 || sgSize > emu.maxSubgroupSize) throw new Error('emulation: bad subgroup size');
  const p = { M: o.M, N: o.N, K: o.K, alpha: Math.fround(o.alpha ?? 1), beta: o.beta ?? 0 };
  const transA = !!o.transA;
  const transB = !!o.transB;
  const A_LD = transA ? BM : BK;
  const B_LD = transB ? BK : BN;
  const { ra, ca, rb, cb } = storedShapes(o);

  // matmul-common.wgsl loadA4/loadB4: stored[r, c..c+3], zero outside the matrix.
  const load4 = (
    src: ArrayLike<number>,
    rows: number,
    cols: number,
    r: number,
    col: number,
    what: string,
  ) => {
    const v = [0, 0, 0, 0];
    if (r >= rows || col >= cols) return v;
    for (let j = 0; j < 4 && col + j < cols; j++) v[j] = at(src, r * cols + col + j, what);
    return v;
  };
  const loadA4 = (r: number, col: number) => load4(a, ra, ca, r, col, 'A');
  const quant = 'words' in b ? b : null;
  const loadB4 = (r: number, col: number) => {
    if (!quant) return load4(b as ArrayLike<number>, rb, cb, r, col, 'B');
    // W_QUANT: the aligned run decoded word-wise (quantLoad4RC asserts col % 4 == 0).
    if (r >= rb || col >= cb) return [0, 0, 0, 0];
    return quantLoad4RC(quant, r, col, cb);
  };
  // matmul-common.wgsl loadB8 (B_RUN8: 4-bit codes).
  const B_RUN8 = quant !== null && subgroupMatrixRun8(quant.format);
  const loadB8 = (r: number, col: number) => {
    if (r >= rb || col >= cb) return [0, 0, 0, 0, 0, 0, 0, 0];
    return quantLoad8RC(quant!, r, col, cb);
  };
  const storeC = (m: number, n: number, v: number) => {
    const i = m * p.N + n;
    let r = Math.fround(p.alpha * v);
    if (p.beta !== 0) r = Math.fround(r + p.beta * at(c, i, 'C'));
    put(c, i, r, 'C');
  };

  const As = new Float32Array(SLICES * BM * BK);
  const Bs = new Float32Array(SLICES * BK * BN);
  const Cs = new Float32Array(NSG * SM * SN);
  const loadSlices = (m0: number, n0: number, k0: number, lid: number, buf: number) => {
    const ao = buf * BM * BK;
    const bo = buf * BK * BN;
    for (let q = lid; q < (BM * BK) / 4; q += WG) {
      const r = Math.floor(q / (A_LD / 4));
      const col = (q % (A_LD / 4)) * 4;
      const v = transA ? loadA4(k0 + r, m0 + col) : loadA4(m0 + r, k0 + col);
      for (let j = 0; j < 4; j++) put(As, ao + 4 * q + j, toF16(v[j]), 'As');
    }
    if (B_RUN8) {
      for (let q = lid; q < (BK * BN) / 8; q += WG) {
        const r = Math.floor(q / (B_LD / 8));
        const col = (q % (B_LD / 8)) * 8;
        const v = transB ? loadB8(n0 + r, k0 + col) : loadB8(k0 + r, n0 + col);
        for (let j = 0; j < 8; j++) put(Bs, bo + 8 * q + j, toF16(v[j]), 'Bs');
      }
      return;
    }
    for (let q = lid; q < (BK * BN) / 4; q += WG) {
      const r = Math.floor(q / (B_LD / 4));
      const col = (q % (B_LD / 4)) * 4;
      const v = transB ? loadB4(n0 + r, k0 + col) : loadB4(k0 + r, n0 + col);
      for (let j = 0; j < 4; j++) put(Bs, bo + 4 * q + j, toF16(v[j]), 'Bs');
    }
  };

  // Workgroups as the device runs them, dispatch by dispatch (matmul.ts splits large products).
  const workgroups: [number, number][] = [];
  const chunks = tileChunks(
    Math.ceil(p.N / BN),
    Math.ceil(p.M / BM),
    emu.maxTilesPerDispatch ?? Infinity,
    emu.maxWorkgroupsPerDim ?? 65535,
  );
  for (const chunk of chunks) {
    const grid = tileGrid(chunk.cols, chunk.rows, emu.maxWorkgroupsPerDim ?? 65535, 'emulation');
    const [gx, gy, gz] = grid.workgroups;
    for (let wz = 0; wz < gz; wz++)
      for (let wy = 0; wy < gy; wy++)
        for (let wx = 0; wx < gx; wx++)
          workgroups.push([(chunk.row0 + wy + wz * grid.foldY) * BM, (chunk.col0 + wx) * BN]);
  }
  const subgroups = WG / sgSize;
  const zero = (): Mat => ({ rows: SM, cols: SN, v: new Float32Array(SM * SN) });
  for (const [m0, n0] of workgroups) {
    if (m0 >= p.M) continue;
    const direct =
      m0 + BM <= p.M && n0 + BN <= p.N && (p.N & 3) === 0 && p.alpha === 1 && (p.beta === 0 || p.beta === 1);
    const sgm = (sg: number) => Math.floor(sg / WN) * TM * SM;
    const sgn = (sg: number) => (sg % WN) * TN * SN;
    const acc: Mat[][] = [];
    for (let sg = 0; sg < subgroups; sg++) {
      acc.push(Array.from({ length: TM * TN }, zero));
      if (direct && p.beta !== 0 && sg < NSG) {
        for (let t = 0; t < TM * TN; t++) {
          const off = (m0 + sgm(sg) + Math.floor(t / TN) * SM) * p.N + n0 + sgn(sg) + (t % TN) * SN;
          acc[sg][t] = matLoad(c, off, false, p.N, SM, SN, 'C');
        }
      }
    }
    if (double) {
      for (let lid = 0; lid < WG; lid++) loadSlices(m0, n0, 0, lid, 0);
      // workgroupBarrier
    }
    for (let k0 = 0; k0 < p.K; k0 += BK) {
      let buf = 0;
      if (double) {
        buf = (k0 / BK) % 2;
        // Issued before this slice's products, as in the kernel: reading the wrong buffer shows here.
        if (k0 + BK < p.K) for (let lid = 0; lid < WG; lid++) loadSlices(m0, n0, k0 + BK, lid, 1 - buf);
      } else {
        for (let lid = 0; lid < WG; lid++) loadSlices(m0, n0, k0, lid, 0);
        // workgroupBarrier
      }
      const ao = buf * BM * BK;
      const bo = buf * BK * BN;
      for (let sg = 0; sg < subgroups; sg++) {
        if (sg >= NSG) continue;
        for (let kk = 0; kk < BK; kk += SK) {
          const left: Mat[] = [];
          for (let tm = 0; tm < TM; tm++) {
            const r = sgm(sg) + tm * SM;
            left.push(
              transA
                ? matLoad(As, ao + kk * A_LD + r, true, A_LD, SM, SK, 'As')
                : matLoad(As, ao + r * A_LD + kk, false, A_LD, SM, SK, 'As'),
            );
          }
          for (let tn = 0; tn < TN; tn++) {
            const col = sgn(sg) + tn * SN;
            const right = transB
              ? matLoad(Bs, bo + col * B_LD + kk, true, B_LD, SK, SN, 'Bs')
              : matLoad(Bs, bo + kk * B_LD + col, false, B_LD, SK, SN, 'Bs');
            for (let tm = 0; tm < TM; tm++)
              acc[sg][tm * TN + tn] = matMulAcc(left[tm], right, acc[sg][tm * TN + tn]);
          }
        }
      }
      // workgroupBarrier
    }
    for (let t = 0; t < TM * TN; t++) {
      for (let sg = 0; sg < subgroups; sg++) {
        const mr = m0 + sgm(sg) + Math.floor(t / TN) * SM;
        const nc = n0 + sgn(sg) + (t % TN) * SN;
        if (sg >= NSG) continue;
        if (direct) matStore(c, mr * p.N + nc, acc[sg][t], p.N, 'C');
        else matStore(Cs, sg * SM * SN, acc[sg][t], SN, 'Cs');
      }
      if (direct) continue;
      // workgroupBarrier
      for (let sg = 0; sg < subgroups; sg++) {
        if (sg >= NSG) continue;
        const mr = m0 + sgm(sg) + Math.floor(t / TN) * SM;
        const nc = n0 + sgn(sg) + (t % TN) * SN;
        for (let lane = 0; lane < sgSize; lane++) {
          for (let e = lane; e < SM * SN; e += sgSize) {
            const m = mr + Math.floor(e / SN);
            const n = nc + (e % SN);
            if (m < p.M && n < p.N) storeC(m, n, at(Cs, sg * SM * SN + e, 'Cs'));
          }
        }
      }
      // workgroupBarrier
    }
  }
}
