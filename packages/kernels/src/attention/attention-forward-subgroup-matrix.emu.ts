/**
 * Runs attention-forward-subgroup-matrix.wgsl's algorithm on the CPU, phase by phase (each barrier-
 * separated phase for every invocation or subgroup of the workgroup, in order), with the same tiles,
 * indices, f16 roundings and f32 arithmetic: a line-by-line transcription that must be kept in step
 * with the WGSL. Every array access is bounds-checked, so an indexing slip throws here.
 */
import { at, type Mat, matLoad, matMulAcc, matStore, put, toF16 } from '../common/subgroup-matrix.emu.ts';
import type { SubgroupMatrixShape } from '../matmul/matmul-subgroup-matrix.ts';
import { ATTENTION_SM_TILE } from './attention-forward-subgroup-matrix.ts';
import { emuQueryTile, emuSeqMask, emuSkipsKeys } from './attention-mask.emu.ts';
import { maskTable } from './gpu-mask.ts';
import type { MaskDescription } from './mask.ts';

export interface AttentionSubgroupMatrixEmulation {
  /** The device's f16 -> f32 matrix shape (8 or 16 per side). */
  shape: SubgroupMatrixShape;
  /** Subgroup size the device compiled for (its maximum); the workgroup is NSG times it. */
  maxSubgroupSize: number;
  /** Subgroup size at run time (<= maxSubgroupSize). */
  subgroupSize?: number;
}

const NEG = -3.0e38;
const f32 = Math.fround;

/** out f32 [B*T, nH*hd] and lse f32 [nH, B*T], as the kernel writes them. */
export function emulateAttentionForwardSubgroupMatrix(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  mask: MaskDescription,
  o: { numHeads: number; numKvHeads: number; headDim: number; scale?: number },
  emu: AttentionSubgroupMatrixEmulation,
): { out: Float32Array; lse: Float32Array } {
  const { M: SM, N: SN, K: SK } = emu.shape;
  const { NSG, BKV } = ATTENTION_SM_TILE;
  const HD = o.headDim;
  if (HD % 16 !== 0) throw new Error('emulation: headDim must be a multiple of 16');
  const BQ = NSG * SM;
  const TS = BKV / SN;
  const TO = HD / SN;
  const WG = NSG * emu.maxSubgroupSize;
  const sgSize = emu.subgroupSize ?? emu.maxSubgroupSize;
  const subgroups = WG / sgSize;
  const p = {
    batch: mask.batch,
    seq: mask.seqLen,
    nh: o.numHeads,
    nkv: o.numKvHeads,
    scale: f32(o.scale ?? 1 / Math.sqrt(HD)),
    causal: mask.causal,
  };
  const table = maskTable(mask);
  const tiles = Math.ceil(p.seq / BQ);
  const out = new Float32Array(p.batch * p.seq * p.nh * HD).fill(Number.NaN); // unwritten shows as NaN
  const lse = new Float32Array(p.nh * p.batch * p.seq).fill(Number.NaN);

  const Qs = new Float32Array(BQ * HD);
  const Ks = new Float32Array(BKV * HD);
  const Vs = new Float32Array(BKV * HD);
  const Ss = new Float32Array(BQ * BKV);
  const Ps = new Float32Array(BQ * BKV);
  const zero = (): Mat => ({ rows: SM, cols: SN, v: new Float32Array(SM * SN) });

  for (let flat = 0; flat < tiles * p.nh * p.batch; flat++) {
    const tile = flat % tiles;
    const h = Math.floor(flat / tiles) % p.nh;
    const b = Math.floor(flat / (tiles * p.nh));
    const kvh = Math.floor(h / (p.nh / p.nkv));
    const m = emuSeqMask(table, b, p.causal);

    const i0 = tile * BQ;
    const qt = emuQueryTile(m, p.causal, i0, BQ);

    for (let e = 0; e < BQ * HD; e++) {
      const i = i0 + Math.floor(e / HD);
      let x = 0;
      if (i >= m.vs && i < m.ve)
        x = f32(at(q, (b * p.seq + i) * p.nh * HD + h * HD + (e % HD), 'q') * p.scale);
      put(Qs, e, toF16(x), 'Qs');
    }

    const loadKv = (t0: number, t1: number, withV: boolean) => {
      for (let e = 0; e < BKV * HD; e++) {
        const j = t0 + Math.floor(e / HD);
        const d = e % HD;
        let kk = 0;
        let vv = 0;
        if (j < t1) {
          const idx = (b * p.seq + j) * p.nkv * HD + kvh * HD + d;
          kk = at(k, idx, 'k');
          if (withV) vv = at(v, idx, 'v');
        }
        put(Ks, e, toF16(kk), 'Ks');
        put(Vs, e, toF16(vv), 'Vs');
      }
    };
    const scores = (sg: number) => {
      const acc = Array.from({ length: TS }, zero);
      for (let kk = 0; kk < HD; kk += SK) {
        const a = matLoad(Qs, sg * SM * HD + kk, false, HD, SM, SK, 'Qs');
        for (let t = 0; t < TS; t++) {
          const bm = matLoad(Ks, t * SN * HD + kk, true, HD, SK, SN, 'Ks');
          acc[t] = matMulAcc(a, bm, acc[t]);
        }
      }
      for (let t = 0; t < TS; t++) matStore(Ss, sg * SM * BKV + t * SN, acc[t], BKV, 'Ss');
    };
    const tilesOfKeys = () => {
      const list: [number, number][] = [];
      for (let t0 = m.vs; t0 < qt.kEnd; t0 += BKV) {
        const t1 = Math.min(t0 + BKV, qt.kEnd);
        if (emuSkipsKeys(qt, m, t0, t1)) continue;
        list.push([t0, t1]);
      }
      return list;
    };

    // Pass 1: per-row max and sum; invocation lid < BQ owns row i0 + lid.
    const mx = new Float32Array(BQ).fill(NEG);
    const l = new Float32Array(BQ);
    const live = (lid: number) => i0 + lid >= m.vs && i0 + lid < m.ve;
    for (const [t0, t1] of tilesOfKeys()) {
      loadKv(t0, t1, false);
      for (let sg = 0; sg < Math.min(subgroups, NSG); sg++) scores(sg);
      for (let lid = 0; lid < BQ; lid++) {
        if (!live(lid)) continue;
        for (let jj = 0; jj < t1 - t0; jj++) {
          if (!m.sees(i0 + lid, t0 + jj)) continue;
          const sc = at(Ss, lid * BKV + jj, 'Ss');
          if (sc > mx[lid]) {
            l[lid] = f32(l[lid] * f32(Math.exp(mx[lid] - sc)));
            mx[lid] = sc;
          }
          l[lid] = f32(l[lid] + f32(Math.exp(sc - mx[lid])));
        }
      }
    }
    const rowLse = new Float32Array(BQ);
    for (let lid = 0; lid < BQ; lid++) {
      rowLse[lid] = l[lid] > 0 ? f32(mx[lid] + f32(Math.log(l[lid]))) : Number.NEGATIVE_INFINITY;
      const i = i0 + lid;
      if (i < p.seq) put(lse, h * p.batch * p.seq + b * p.seq + i, rowLse[lid], 'lse');
    }

    // Pass 2: normalised P in f16, O += P V.
    const acc = Array.from({ length: NSG }, () => Array.from({ length: TO }, zero));
    for (const [t0, t1] of tilesOfKeys()) {
      loadKv(t0, t1, true);
      for (let sg = 0; sg < Math.min(subgroups, NSG); sg++) scores(sg);
      for (let lid = 0; lid < BQ; lid++) {
        for (let jj = 0; jj < BKV; jj++) {
          let pj = 0;
          if (live(lid) && jj < t1 - t0 && l[lid] > 0 && m.sees(i0 + lid, t0 + jj))
            pj = f32(Math.exp(f32(at(Ss, lid * BKV + jj, 'Ss') - rowLse[lid])));
          put(Ps, lid * BKV + jj, toF16(pj), 'Ps');
        }
      }
      for (let sg = 0; sg < Math.min(subgroups, NSG); sg++) {
        for (let kk = 0; kk < BKV; kk += SK) {
          const a = matLoad(Ps, sg * SM * BKV + kk, false, BKV, SM, SK, 'Ps');
          for (let t = 0; t < TO; t++) {
            const bm = matLoad(Vs, kk * HD + t * SN, false, HD, SK, SN, 'Vs');
            acc[sg][t] = matMulAcc(a, bm, acc[sg][t]);
          }
        }
      }
    }

    for (let t = 0; t < TO; t++) {
      for (let sg = 0; sg < Math.min(subgroups, NSG); sg++) matStore(Ss, sg * SM * SN, acc[sg][t], SN, 'Ss');
      for (let sg = 0; sg < Math.min(subgroups, NSG); sg++) {
        for (let lane = 0; lane < sgSize; lane++) {
          for (let e = lane; e < SM * SN; e += sgSize) {
            const row = i0 + sg * SM + Math.floor(e / SN);
            if (row < p.seq)
              put(
                out,
                (b * p.seq + row) * p.nh * HD + h * HD + t * SN + (e % SN),
                at(Ss, sg * SM * SN + e, 'Ss'),
                'out',
              );
          }
        }
      }
    }
  }
  return { out, lse };
}
