/**
 * Runs the tensor-core attention backward on the CPU as the device does: the stats and scale kernels
 * (attention-backward-stats.wgsl, attention-backward-scale.wgsl), then
 * attention-backward-dq-subgroup-matrix.wgsl and attention-backward-dkdv-subgroup-matrix.wgsl phase by
 * phase, with the same tiles, indices, f16 roundings and f32 arithmetic: a line-by-line transcription
 * that must be kept in step with the WGSL. Every array access is bounds-checked.
 */
import { at, type Mat, matLoad, matMulAcc, matStore, put, toF16 } from '../common/subgroup-matrix.emu.ts';
import type { AttentionSubgroupMatrixEmulation } from './attention-forward-subgroup-matrix.emu.ts';
import { ATTENTION_SM_TILE } from './attention-forward-subgroup-matrix.ts';
import { emuQueryTile, emuSeqMask, emuSkipsKeys } from './attention-mask.emu.ts';
import { maskTable } from './gpu-mask.ts';
import type { MaskDescription } from './mask.ts';

const NEG = -3.0e38;
const f32 = Math.fround;

export function emulateAttentionBackwardSubgroupMatrix(
  x: {
    q: Float32Array;
    k: Float32Array;
    v: Float32Array;
    out: Float32Array;
    dOut: Float32Array;
    lse: Float32Array;
  },
  mask: MaskDescription,
  o: { numHeads: number; numKvHeads: number; headDim: number; scale?: number },
  emu: AttentionSubgroupMatrixEmulation,
): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  const { M: SM, N: SN, K: SK } = emu.shape;
  const { NSG, BKV } = ATTENTION_SM_TILE;
  const BQ2 = BKV;
  const HD = o.headDim;
  const TO = HD / SN;
  const WG = NSG * emu.maxSubgroupSize;
  const sgSize = emu.subgroupSize ?? emu.maxSubgroupSize;
  if (WG % sgSize !== 0) throw new Error('emulation: bad subgroup size');
  const p = {
    batch: mask.batch,
    seq: mask.seqLen,
    nh: o.numHeads,
    nkv: o.numKvHeads,
    scale: f32(o.scale ?? 1 / Math.sqrt(HD)),
    causal: mask.causal,
  };
  const rows = p.batch * p.seq;
  const count = p.nh * rows;
  const group = p.nh / p.nkv;
  const table = maskTable(mask);
  const zero = (): Mat => ({ rows: SM, cols: SN, v: new Float32Array(SM * SN) });

  // attention-backward-stats.wgsl: [lse | D | amax], then attention-backward-scale.wgsl: c per kv head.
  const stats = new Float32Array(3 * count + p.nkv);
  for (let n = 0; n < count; n++) {
    const h = Math.floor(n / rows);
    const r = n % rows;
    const base = r * p.nh * HD + h * HD;
    let d = 0;
    let amax = 0;
    for (let e = 0; e < HD; e++) {
      d = f32(d + f32(x.dOut[base + e] * x.out[base + e]));
      amax = Math.max(amax, Math.abs(x.dOut[base + e]));
    }
    stats[n] = x.lse[n];
    stats[count + n] = d;
    stats[2 * count + n] = amax;
  }
  for (let g = 0; g < p.nkv; g++) {
    let mx = 0;
    for (let e = 0; e < group * rows; e++)
      mx = Math.max(mx, at(stats, 2 * count + g * group * rows + e, 'stats'));
    stats[3 * count + g] = mx > 0 ? mx : 1;
  }

  const subgroups = Math.min(WG / sgSize, NSG);

  // dQ kernel.
  const dq = new Float32Array(x.q.length).fill(Number.NaN);
  {
    const BQ = NSG * SM;
    const TS = BKV / SN;
    const tiles = Math.ceil(p.seq / BQ);
    const Qs = new Float32Array(BQ * HD);
    const Os = new Float32Array(BQ * HD);
    const Ks = new Float32Array(BKV * HD);
    const Vs = new Float32Array(BKV * HD);
    const Ss = new Float32Array(BQ * BKV);
    const Ds = new Float32Array(BQ * BKV);
    const Gs = new Float32Array(BQ * BKV);
    for (let flat = 0; flat < tiles * p.nh * p.batch; flat++) {
      const tile = flat % tiles;
      const h = Math.floor(flat / tiles) % p.nh;
      const b = Math.floor(flat / (tiles * p.nh));
      const kvh = Math.floor(h / group);
      const m = emuSeqMask(table, b, p.causal);
      const c = at(stats, 3 * count + kvh, 'stats');
      const i0 = tile * BQ;
      const qt = emuQueryTile(m, p.causal, i0, BQ);
      for (let e = 0; e < BQ * HD; e++) {
        const i = i0 + Math.floor(e / HD);
        let qq = 0;
        let oo = 0;
        if (i >= m.vs && i < m.ve) {
          const idx = (b * p.seq + i) * p.nh * HD + h * HD + (e % HD);
          qq = f32(at(x.q, idx, 'q') * p.scale);
          oo = f32(at(x.dOut, idx, 'dout') / c);
        }
        put(Qs, e, toF16(qq), 'Qs');
        put(Os, e, toF16(oo), 'Os');
      }
      const live = (lid: number) => i0 + lid >= m.vs && i0 + lid < m.ve;
      const rowLse = Float32Array.from({ length: BQ }, (_, lid) =>
        live(lid) ? at(stats, h * rows + b * p.seq + i0 + lid, 'stats') : NEG,
      );
      const rowD = Float32Array.from({ length: BQ }, (_, lid) =>
        live(lid) ? f32(at(stats, count + h * rows + b * p.seq + i0 + lid, 'stats') / c) : 0,
      );
      const acc = Array.from({ length: NSG }, () => Array.from({ length: TO }, zero));
      for (let t0 = m.vs; t0 < qt.kEnd; t0 += BKV) {
        const t1 = Math.min(t0 + BKV, qt.kEnd);
        if (emuSkipsKeys(qt, m, t0, t1)) continue;
        for (let e = 0; e < BKV * HD; e++) {
          const j = t0 + Math.floor(e / HD);
          let kk = 0;
          let vv = 0;
          if (j < t1) {
            const idx = (b * p.seq + j) * p.nkv * HD + kvh * HD + (e % HD);
            kk = at(x.k, idx, 'k');
            vv = at(x.v, idx, 'v');
          }
          put(Ks, e, toF16(kk), 'Ks');
          put(Vs, e, toF16(vv), 'Vs');
        }
        for (let sg = 0; sg < subgroups; sg++) {
          const s = Array.from({ length: TS }, zero);
          const dp = Array.from({ length: TS }, zero);
          for (let kk = 0; kk < HD; kk += SK) {
            const a = matLoad(Qs, sg * SM * HD + kk, false, HD, SM, SK, 'Qs');
            const ao = matLoad(Os, sg * SM * HD + kk, false, HD, SM, SK, 'Os');
            for (let t = 0; t < TS; t++) {
              s[t] = matMulAcc(a, matLoad(Ks, t * SN * HD + kk, true, HD, SK, SN, 'Ks'), s[t]);
              dp[t] = matMulAcc(ao, matLoad(Vs, t * SN * HD + kk, true, HD, SK, SN, 'Vs'), dp[t]);
            }
          }
          for (let t = 0; t < TS; t++) {
            matStore(Ss, sg * SM * BKV + t * SN, s[t], BKV, 'Ss');
            matStore(Ds, sg * SM * BKV + t * SN, dp[t], BKV, 'Ds');
          }
        }
        for (let lid = 0; lid < BQ; lid++) {
          for (let jj = 0; jj < BKV; jj++) {
            let ds = 0;
            if (live(lid) && jj < t1 - t0 && rowLse[lid] > NEG && m.sees(i0 + lid, t0 + jj)) {
              const pj = f32(Math.exp(f32(at(Ss, lid * BKV + jj, 'Ss') - rowLse[lid])));
              ds = f32(pj * f32(at(Ds, lid * BKV + jj, 'Ds') - rowD[lid]));
            }
            put(Gs, lid * BKV + jj, toF16(ds), 'Gs');
          }
        }
        for (let sg = 0; sg < subgroups; sg++) {
          for (let kk = 0; kk < BKV; kk += SK) {
            const a = matLoad(Gs, sg * SM * BKV + kk, false, BKV, SM, SK, 'Gs');
            for (let t = 0; t < TO; t++)
              acc[sg][t] = matMulAcc(a, matLoad(Ks, kk * HD + t * SN, false, HD, SK, SN, 'Ks'), acc[sg][t]);
          }
        }
      }
      const factor = f32(p.scale * c);
      for (let t = 0; t < TO; t++) {
        for (let sg = 0; sg < subgroups; sg++) matStore(Ss, sg * SM * SN, acc[sg][t], SN, 'Ss');
        for (let sg = 0; sg < subgroups; sg++)
          for (let e = 0; e < SM * SN; e++) {
            const row = i0 + sg * SM + Math.floor(e / SN);
            if (row < p.seq)
              put(
                dq,
                (b * p.seq + row) * p.nh * HD + h * HD + t * SN + (e % SN),
                f32(at(Ss, sg * SM * SN + e, 'Ss') * factor),
                'dq',
              );
          }
      }
    }
  }

  // dK/dV kernel.
  const dk = new Float32Array(x.k.length).fill(Number.NaN);
  const dv = new Float32Array(x.v.length).fill(Number.NaN);
  {
    const BK = NSG * SM;
    const TS = BQ2 / SN;
    const tiles = Math.ceil(p.seq / BK);
    const Ks = new Float32Array(BK * HD);
    const Vs = new Float32Array(BK * HD);
    const Qs = new Float32Array(BQ2 * HD);
    const Os = new Float32Array(BQ2 * HD);
    const Ss = new Float32Array(BK * BQ2);
    const Ds = new Float32Array(BK * BQ2);
    const Ps = new Float32Array(BK * BQ2);
    const Gs = new Float32Array(BK * BQ2);
    for (let flat = 0; flat < tiles * p.nkv * p.batch; flat++) {
      const tile = flat % tiles;
      const kvh = Math.floor(flat / tiles) % p.nkv;
      const b = Math.floor(flat / (tiles * p.nkv));
      const m = emuSeqMask(table, b, p.causal);
      const c = at(stats, 3 * count + kvh, 'stats');
      const j0 = tile * BK;
      const c0 = Math.max(j0, m.vs);
      const c1 = Math.min(j0 + BK, m.ve);
      let qStart = m.vs;
      if (p.causal) qStart = Math.max(qStart, c0);
      let qEnd = m.ve;
      if (c1 <= c0) qEnd = qStart;
      const keysInA = c0 >= m.a0 && c1 <= m.a1;
      for (let e = 0; e < BK * HD; e++) {
        const j = j0 + Math.floor(e / HD);
        let kk = 0;
        let vv = 0;
        if (j >= m.vs && j < m.ve) {
          const idx = (b * p.seq + j) * p.nkv * HD + kvh * HD + (e % HD);
          kk = at(x.k, idx, 'k');
          vv = at(x.v, idx, 'v');
        }
        put(Ks, e, toF16(kk), 'Ks');
        put(Vs, e, toF16(vv), 'Vs');
      }
      const live = (lid: number) => j0 + lid >= m.vs && j0 + lid < m.ve;
      const accK = Array.from({ length: NSG }, () => Array.from({ length: TO }, zero));
      const accV = Array.from({ length: NSG }, () => Array.from({ length: TO }, zero));
      for (let hh = 0; hh < group; hh++) {
        const h = kvh * group + hh;
        for (let t0 = qStart; t0 < qEnd; t0 += BQ2) {
          const t1 = Math.min(t0 + BQ2, qEnd);
          if (keysInA && t0 >= m.b0 && t1 <= m.b1) continue;
          for (let e = 0; e < BQ2 * HD; e++) {
            const i = t0 + Math.floor(e / HD);
            let qq = 0;
            let oo = 0;
            if (i < t1) {
              const idx = (b * p.seq + i) * p.nh * HD + h * HD + (e % HD);
              qq = f32(at(x.q, idx, 'q') * p.scale);
              oo = f32(at(x.dOut, idx, 'dout') / c);
            }
            put(Qs, e, toF16(qq), 'Qs');
            put(Os, e, toF16(oo), 'Os');
          }
          for (let sg = 0; sg < subgroups; sg++) {
            const s = Array.from({ length: TS }, zero);
            const dp = Array.from({ length: TS }, zero);
            for (let kk = 0; kk < HD; kk += SK) {
              const ak = matLoad(Ks, sg * SM * HD + kk, false, HD, SM, SK, 'Ks');
              const av = matLoad(Vs, sg * SM * HD + kk, false, HD, SM, SK, 'Vs');
              for (let t = 0; t < TS; t++) {
                s[t] = matMulAcc(ak, matLoad(Qs, t * SN * HD + kk, true, HD, SK, SN, 'Qs'), s[t]);
                dp[t] = matMulAcc(av, matLoad(Os, t * SN * HD + kk, true, HD, SK, SN, 'Os'), dp[t]);
              }
            }
            for (let t = 0; t < TS; t++) {
              matStore(Ss, sg * SM * BQ2 + t * SN, s[t], BQ2, 'Ss');
              matStore(Ds, sg * SM * BQ2 + t * SN, dp[t], BQ2, 'Ds');
            }
          }
          for (let lid = 0; lid < BK; lid++) {
            for (let ii = 0; ii < BQ2; ii++) {
              let pj = 0;
              let ds = 0;
              const i = t0 + ii;
              if (live(lid) && ii < t1 - t0 && m.sees(i, j0 + lid)) {
                const rowLse = at(stats, h * rows + b * p.seq + i, 'stats');
                if (rowLse > NEG) {
                  pj = f32(Math.exp(f32(at(Ss, lid * BQ2 + ii, 'Ss') - rowLse)));
                  const d = f32(at(stats, count + h * rows + b * p.seq + i, 'stats') / c);
                  ds = f32(pj * f32(at(Ds, lid * BQ2 + ii, 'Ds') - d));
                }
              }
              put(Ps, lid * BQ2 + ii, toF16(pj), 'Ps');
              put(Gs, lid * BQ2 + ii, toF16(ds), 'Gs');
            }
          }
          for (let sg = 0; sg < subgroups; sg++) {
            for (let kk = 0; kk < BQ2; kk += SK) {
              const ap = matLoad(Ps, sg * SM * BQ2 + kk, false, BQ2, SM, SK, 'Ps');
              const ag = matLoad(Gs, sg * SM * BQ2 + kk, false, BQ2, SM, SK, 'Gs');
              for (let t = 0; t < TO; t++) {
                accV[sg][t] = matMulAcc(
                  ap,
                  matLoad(Os, kk * HD + t * SN, false, HD, SK, SN, 'Os'),
                  accV[sg][t],
                );
                accK[sg][t] = matMulAcc(
                  ag,
                  matLoad(Qs, kk * HD + t * SN, false, HD, SK, SN, 'Qs'),
                  accK[sg][t],
                );
              }
            }
          }
        }
      }
      for (let t = 0; t < TO; t++) {
        for (const [which, acc, dst] of [
          [0, accK, dk],
          [1, accV, dv],
        ] as const) {
          for (let sg = 0; sg < subgroups; sg++) matStore(Ss, sg * SM * SN, acc[sg][t], SN, 'Ss');
          for (let sg = 0; sg < subgroups; sg++)
            for (let e = 0; e < SM * SN; e++) {
              const key = j0 + sg * SM + Math.floor(e / SN);
              if (key < p.seq)
                put(
                  dst,
                  (b * p.seq + key) * p.nkv * HD + kvh * HD + t * SN + (e % SN),
                  f32(at(Ss, sg * SM * SN + e, 'Ss') * c),
                  which === 0 ? 'dk' : 'dv',
                );
            }
        }
      }
    }
  }
  return { dq, dk, dv };
}
