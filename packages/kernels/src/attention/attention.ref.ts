/**
 * The specification of attention forward and backward: plain loops in f64 over a dense softmax.
 * Shapes as in attention-forward.ts (row r = b*T + i; head h of q reads kv head h / (nH/nKV)).
 *
 * Forward, for each visible key j of row (b, i) and head h (visible: `maskAllows`):
 *   s_j = scale * q[r,h] . k[j,g],  p = softmax(s),  out[r,h] = sum_j p_j v[j,g],  lse = logsumexp(s)
 * A row with no visible key: out = 0, lse = -Infinity. Backward, given dOut:
 *   dv[j,g] += p_j dOut[r,h];  dp_j = dOut[r,h] . v[j,g];  ds_j = p_j (dp_j - sum_k p_k dp_k)
 *   dq[r,h] += scale * ds_j k[j,g];  dk[j,g] += scale * ds_j q[r,h]     (GQA heads summed into g)
 */
import { type MaskDescription, maskAllows } from './mask.ts';

export interface AttentionRefOptions {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  scale?: number;
}

interface Row {
  /** Visible key rows (token slots b*T + j). */
  keys: number[];
  p: Float64Array;
  lse: number;
}

/** Softmax of one (row, head) over its visible keys. */
function softmaxRow(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  m: MaskDescription,
  o: AttentionRefOptions,
  b: number,
  i: number,
  h: number,
): Row {
  const { numHeads: nh, numKvHeads: nkv, headDim: hd } = o;
  const scale = o.scale ?? 1 / Math.sqrt(hd);
  const g = Math.floor(h / (nh / nkv));
  const T = m.seqLen;
  const keys: number[] = [];
  const s: number[] = [];
  for (let j = 0; j < T; j++) {
    if (!maskAllows(m, b, i, j)) continue;
    let dot = 0;
    for (let d = 0; d < hd; d++)
      dot += q[(b * T + i) * nh * hd + h * hd + d] * k[(b * T + j) * nkv * hd + g * hd + d];
    keys.push(b * T + j);
    s.push(scale * dot);
  }
  if (keys.length === 0) return { keys, p: new Float64Array(0), lse: Number.NEGATIVE_INFINITY };
  const mx = Math.max(...s);
  let sum = 0;
  for (const x of s) sum += Math.exp(x - mx);
  return { keys, p: Float64Array.from(s, (x) => Math.exp(x - mx) / sum), lse: mx + Math.log(sum) };
}

/** out f64 [B*T, nH*hd], lse f64 [nH, B*T]. */
export function attentionRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  m: MaskDescription,
  o: AttentionRefOptions,
): { out: Float64Array; lse: Float64Array } {
  const { numHeads: nh, numKvHeads: nkv, headDim: hd } = o;
  const rows = m.batch * m.seqLen;
  const out = new Float64Array(rows * nh * hd);
  const lse = new Float64Array(nh * rows);
  for (let b = 0; b < m.batch; b++)
    for (let i = 0; i < m.seqLen; i++)
      for (let h = 0; h < nh; h++) {
        const r = b * m.seqLen + i;
        const g = Math.floor(h / (nh / nkv));
        const row = softmaxRow(q, k, m, o, b, i, h);
        lse[h * rows + r] = row.lse;
        row.keys.forEach((kr, n) => {
          for (let d = 0; d < hd; d++)
            out[r * nh * hd + h * hd + d] += row.p[n] * v[kr * nkv * hd + g * hd + d];
        });
      }
  return { out, lse };
}

/** dq f64 [B*T, nH*hd]; dk, dv f64 [B*T, nKV*hd]: gradients of sum(out * dOut). */
export function attentionBackwardRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dOut: ArrayLike<number>,
  m: MaskDescription,
  o: AttentionRefOptions,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { numHeads: nh, numKvHeads: nkv, headDim: hd } = o;
  const scale = o.scale ?? 1 / Math.sqrt(hd);
  const rows = m.batch * m.seqLen;
  const dq = new Float64Array(rows * nh * hd);
  const dk = new Float64Array(rows * nkv * hd);
  const dv = new Float64Array(rows * nkv * hd);
  for (let b = 0; b < m.batch; b++)
    for (let i = 0; i < m.seqLen; i++)
      for (let h = 0; h < nh; h++) {
        const r = b * m.seqLen + i;
        const g = Math.floor(h / (nh / nkv));
        const qo = r * nh * hd + h * hd;
        const row = softmaxRow(q, k, m, o, b, i, h);
        const dp = row.keys.map((kr) => {
          let x = 0;
          for (let d = 0; d < hd; d++) x += dOut[qo + d] * v[kr * nkv * hd + g * hd + d];
          return x;
        });
        let pdp = 0;
        dp.forEach((x, n) => {
          pdp += row.p[n] * x;
        });
        row.keys.forEach((kr, n) => {
          const ko = kr * nkv * hd + g * hd;
          const ds = row.p[n] * (dp[n] - pdp);
          for (let d = 0; d < hd; d++) {
            dv[ko + d] += row.p[n] * dOut[qo + d];
            dq[qo + d] += scale * ds * k[ko + d];
            dk[ko + d] += scale * ds * q[qo + d];
          }
        });
      }
  return { dq, dk, dv };
}
