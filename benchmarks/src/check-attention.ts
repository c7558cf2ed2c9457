/**
 * Device check of attention forward and backward at head dim 128 and long sequences (T 2048, and a
 * GQA batch with left padding and LLaRA's block rule) against an f64 reference on sampled rows: the
 * kernel tests use short sequences, so tiling across many key tiles, folded grids and long causal
 * rows are only exercised here. Forward: out (every head) and lse of sampled rows. Backward: dq of
 * sampled rows (every head) and dk, dv of sampled key rows in two kv heads, whose reference needs the
 * full softmax statistics of those heads (computed once per head).
 */
import type { Gpu, Tensor, Tolerance } from '@llara/gpu';
import {
  type AttentionVariant,
  attentionBackward,
  attentionForward,
  attentionSubgroupMatrixShape,
  describeAttention,
  type MaskDescription,
  maskAllows,
  paddedCausalMask,
  uploadMask,
} from '@llara/kernels';
import { type CheckResult, combine, compare, maxAbs, sampleIndices, toleranceText } from './check-result.ts';
import { randomF32 } from './random-data.ts';
import { errorMessage } from './rows.ts';

interface Case {
  name: string;
  mask: MaskDescription;
  H: number;
  KV: number;
  D: number;
}

export function attentionCheckCases(smoke: boolean): Case[] {
  const T = smoke ? 64 : 2048;
  const H = smoke ? 4 : 32;
  const long: Case = {
    name: `causal B1 T${T} H${H} hd128`,
    mask: paddedCausalMask(T, [T], 'right'),
    H,
    KV: H,
    D: 128,
  };
  // Two sequences of T2, the second left-padded; both with a LLaRA block near their end (rows of block
  // B must not see block A), as the flag recipe's EBAR suffix.
  const T2 = smoke ? 48 : 512;
  const lens = [T2, Math.floor((T2 * 3) / 5)];
  const padded = paddedCausalMask(T2, lens, 'left');
  const block = new Int32Array(8);
  for (let b = 0; b < 2; b++) {
    const end = padded.validEnd[b];
    const bLen = smoke ? 6 : 18;
    const aLen = smoke ? 7 : 19;
    block.set([end - bLen - aLen, end - bLen, end - bLen, end], 4 * b);
  }
  const gqa: Case = {
    name: `GQA B2 T${T2} left-padded + block rule H${H} KV${H / 4} hd128`,
    mask: { ...padded, block },
    H,
    KV: H / 4,
    D: 128,
  };
  return [long, gqa];
}

const TOL_OUT: Tolerance = { atol: 5e-5, rtol: 1e-3 };
const TOL_LSE: Tolerance = { atol: 1e-4, rtol: 1e-5 };
/** The tensor-core forward rounds q, k, v and the probabilities to f16 (see its emulation test). */
const TOL_OUT_F16: Tolerance = { atol: 5e-3, rtol: 5e-3 };
const TOL_LSE_F16: Tolerance = { atol: 5e-3, rtol: 1e-3 };
/** Backward tolerances relative to the largest reference gradient: f32 kernels, and f16 operands. */
const F32_BACKWARD = { atol: 1e-4, rtol: 1e-3 };
const F16_BACKWARD = { atol: 1e-2, rtol: 1e-2 };

/** Softmax of one (sequence b, row i, head h) over its visible keys, in f64. */
function rowSoftmax(
  q: Float32Array,
  k: Float32Array,
  c: Case,
  b: number,
  i: number,
  h: number,
): { keys: number[]; p: Float64Array; lse: number } {
  const { H, KV, D } = c;
  const T = c.mask.seqLen;
  const g = Math.floor(h / (H / KV));
  const scale = 1 / Math.sqrt(D);
  const qo = (b * T + i) * H * D + h * D;
  const keys: number[] = [];
  const s: number[] = [];
  for (let j = 0; j < T; j++) {
    if (!maskAllows(c.mask, b, i, j)) continue;
    const ko = (b * T + j) * KV * D + g * D;
    let dot = 0;
    for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
    keys.push(b * T + j);
    s.push(scale * dot);
  }
  if (keys.length === 0) return { keys, p: new Float64Array(0), lse: Number.NEGATIVE_INFINITY };
  let mx = Number.NEGATIVE_INFINITY;
  for (const x of s) mx = Math.max(mx, x);
  let sum = 0;
  for (const x of s) sum += Math.exp(x - mx);
  return { keys, p: Float64Array.from(s, (x) => Math.exp(x - mx) / sum), lse: mx + Math.log(sum) };
}

interface Inputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dOut: Float32Array;
}

/** Forward output of one row and head, and D = dOut . out (the backward's row statistic). */
function rowForward(x: Inputs, c: Case, b: number, i: number, h: number) {
  const { H, KV, D } = c;
  const T = c.mask.seqLen;
  const g = Math.floor(h / (H / KV));
  const row = rowSoftmax(x.q, x.k, c, b, i, h);
  const out = new Float64Array(D);
  row.keys.forEach((kr, n) => {
    const vo = kr * KV * D + g * D;
    for (let d = 0; d < D; d++) out[d] += row.p[n] * x.v[vo + d];
  });
  const qo = (b * T + i) * H * D + h * D;
  let dd = 0;
  for (let d = 0; d < D; d++) dd += x.dOut[qo + d] * out[d];
  return { ...row, out, D: dd };
}

/** dq of one row and head. */
function rowDq(x: Inputs, c: Case, b: number, i: number, h: number): Float64Array {
  const { H, KV, D } = c;
  const T = c.mask.seqLen;
  const g = Math.floor(h / (H / KV));
  const scale = 1 / Math.sqrt(D);
  const f = rowForward(x, c, b, i, h);
  const qo = (b * T + i) * H * D + h * D;
  const dq = new Float64Array(D);
  f.keys.forEach((kr, n) => {
    const ko = kr * KV * D + g * D;
    let dp = 0;
    for (let d = 0; d < D; d++) dp += x.dOut[qo + d] * x.v[ko + d];
    const ds = f.p[n] * (dp - f.D);
    for (let d = 0; d < D; d++) dq[d] += scale * ds * x.k[ko + d];
  });
  return dq;
}

/** dk and dv of key row (b, j) in kv head g, from the statistics of every head of its group. */
function keyGrads(
  x: Inputs,
  c: Case,
  b: number,
  j: number,
  g: number,
  stats: Map<number, { lse: Float64Array; D: Float64Array }>,
): { dk: Float64Array; dv: Float64Array } {
  const { H, KV, D } = c;
  const T = c.mask.seqLen;
  const scale = 1 / Math.sqrt(D);
  const dk = new Float64Array(D);
  const dv = new Float64Array(D);
  const ko = (b * T + j) * KV * D + g * D;
  const per = H / KV;
  for (let h = g * per; h < (g + 1) * per; h++) {
    const st = stats.get(b * H + h)!;
    for (let i = 0; i < T; i++) {
      if (!maskAllows(c.mask, b, i, j)) continue;
      const qo = (b * T + i) * H * D + h * D;
      let dot = 0;
      let dp = 0;
      for (let d = 0; d < D; d++) {
        dot += x.q[qo + d] * x.k[ko + d];
        dp += x.dOut[qo + d] * x.v[ko + d];
      }
      const p = Math.exp(scale * dot - st.lse[i]);
      const ds = p * (dp - st.D[i]);
      for (let d = 0; d < D; d++) {
        dv[d] += p * x.dOut[qo + d];
        dk[d] += scale * ds * x.q[qo + d];
      }
    }
  }
  return { dk, dv };
}

async function readRows(gpu: Gpu, t: Tensor, rows: number[], width: number): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const r of rows) out.push(new Float32Array(await gpu.readBytes(t.buffer, width * 4, r * width * 4)));
  return out;
}

/** Sampled valid rows of each sequence (flat indices b*T + i), including block rows when present. */
function sampledRows(c: Case, seed: number): { b: number; i: number }[] {
  const out: { b: number; i: number }[] = [];
  for (let b = 0; b < c.mask.batch; b++) {
    const start = c.mask.validStart[b];
    const n = c.mask.validEnd[b] - start;
    const picks = new Set(sampleIndices(n, 5, seed + b).map((x) => start + x));
    if (c.mask.block) picks.add(c.mask.block[4 * b + 2]);
    for (const i of [...picks].sort((x, y) => x - y)) out.push({ b, i });
  }
  return out;
}

export async function checkAttention(gpu: Gpu, smoke: boolean): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const variants: AttentionVariant[] = gpu.has('subgroups') ? ['plain', 'subgroups'] : ['plain'];
  let seed = 101;
  for (const c of attentionCheckCases(smoke)) {
    const { H, KV, D } = c;
    const T = c.mask.seqLen;
    const rowsN = c.mask.batch * T;
    const x: Inputs = {
      q: randomF32(rowsN * H * D, seed++, -1.5, 1.5),
      k: randomF32(rowsN * KV * D, seed++, -1.5, 1.5),
      v: randomF32(rowsN * KV * D, seed++),
      dOut: randomF32(rowsN * H * D, seed++),
    };
    const samples = sampledRows(c, seed++);
    const t0 = performance.now();
    // Forward and dq references for the sampled rows (every head).
    const refOut: Float64Array[] = [];
    const refLse: Float64Array[] = [];
    const refDq: Float64Array[] = [];
    for (const { b, i } of samples) {
      const out = new Float64Array(H * D);
      const lse = new Float64Array(H);
      const dq = new Float64Array(H * D);
      for (let h = 0; h < H; h++) {
        const f = rowForward(x, c, b, i, h);
        out.set(f.out, h * D);
        lse[h] = f.lse;
        dq.set(rowDq(x, c, b, i, h), h * D);
      }
      refOut.push(out);
      refLse.push(lse);
      refDq.push(dq);
    }
    // dk/dv references: two kv heads (first and last), sampled key rows, full statistics of their heads.
    const groups = [...new Set([0, KV - 1])];
    const stats = new Map<number, { lse: Float64Array; D: Float64Array }>();
    for (let b = 0; b < c.mask.batch; b++)
      for (const g of groups)
        for (let h = g * (H / KV); h < (g + 1) * (H / KV); h++) {
          const lse = new Float64Array(T);
          const dd = new Float64Array(T);
          for (let i = 0; i < T; i++) {
            const f = rowForward(x, c, b, i, h);
            lse[i] = f.lse;
            dd[i] = f.D;
          }
          stats.set(b * H + h, { lse, D: dd });
        }
    const refKv = samples.map(({ b, i }) => groups.map((g) => keyGrads(x, c, b, i, g, stats)));
    const refSeconds = (performance.now() - t0) / 1000;
    const flat = samples.map(({ b, i }) => b * T + i);

    const held: Tensor[] = [];
    const t = (tensor: Tensor) => {
      held.push(tensor);
      return tensor;
    };
    try {
      const q = t(gpu.tensor('f32', [rowsN, H * D], x.q));
      const k = t(gpu.tensor('f32', [rowsN, KV * D], x.k));
      const v = t(gpu.tensor('f32', [rowsN, KV * D], x.v));
      const dOut = t(gpu.tensor('f32', [rowsN, H * D], x.dOut));
      const out = t(gpu.tensor('f32', [rowsN, H * D]));
      const lse = t(gpu.tensor('f32', [H, rowsN]));
      const dq = t(gpu.tensor('f32', [rowsN, H * D]));
      const dk = t(gpu.tensor('f32', [rowsN, KV * D]));
      const dv = t(gpu.tensor('f32', [rowsN, KV * D]));
      const mask = uploadMask(gpu, c.mask);
      t(mask.table);
      /** dq of the sampled rows (every head), dk and dv of the sampled rows in the checked kv heads. */
      const compareBackward = async (relative: { atol: number; rtol: number }) => {
        const gotDq = await readRows(gpu, dq, flat, H * D);
        const gotDk = await readRows(gpu, dk, flat, KV * D);
        const gotDv = await readRows(gpu, dv, flat, KV * D);
        const reports = [];
        const scaleOf = (xs: Float64Array[]) => Math.max(...xs.map(maxAbs), 1e-30);
        const dqTol = { atol: relative.atol * scaleOf(refDq), rtol: relative.rtol };
        reports.push(...flat.map((r, n) => compare(`dq row ${r}`, gotDq[n], refDq[n], dqTol)));
        const kvRefs = refKv.flatMap((perGroup) => perGroup.flatMap((gr) => [gr.dk, gr.dv]));
        const kvTol = { atol: relative.atol * scaleOf(kvRefs), rtol: relative.rtol };
        flat.forEach((r, n) => {
          groups.forEach((g, gi) => {
            const sl = (a: Float32Array) => a.subarray(g * D, (g + 1) * D);
            reports.push(compare(`dk row ${r} kv ${g}`, sl(gotDk[n]), refKv[n][gi].dk, kvTol));
            reports.push(compare(`dv row ${r} kv ${g}`, sl(gotDv[n]), refKv[n][gi].dv, kvTol));
          });
        });
        return combine(reports);
      };
      for (const variant of variants) {
        const o = { numHeads: H, numKvHeads: KV, headDim: D, variant };
        const t1 = performance.now();
        try {
          const rec = gpu.recorder();
          attentionForward(rec, q, k, v, out, lse, mask, o);
          attentionBackward(rec, q, k, v, out, dOut, lse, dq, dk, dv, mask, o);
          rec.submit();
          const gotOut = await readRows(gpu, out, flat, H * D);
          const lseAll = (await gpu.read(lse)) as Float32Array;
          const gotLse = flat.map((r) => Float64Array.from({ length: H }, (_, h) => lseAll[h * rowsN + r]));
          const fwd = combine([
            ...flat.map((r, n) => compare(`out row ${r}`, gotOut[n], refOut[n], TOL_OUT)),
            ...flat.map((r, n) => compare(`lse row ${r}`, gotLse[n], refLse[n], TOL_LSE)),
          ]);
          results.push({
            name: `attention forward ${variant} ${c.name}`,
            status: fwd.ok ? 'pass' : 'fail',
            maxAbsError: fwd.maxAbsError,
            tolerance: `out ${toleranceText(TOL_OUT)}; lse ${toleranceText(TOL_LSE)}`,
            detail: `${flat.length} rows x ${H} heads: ${fwd.message}`,
            seconds: (performance.now() - t1) / 1000 + refSeconds,
          });
          const bwd = await compareBackward(F32_BACKWARD);
          results.push({
            name: `attention backward ${variant} ${c.name}`,
            status: bwd.ok ? 'pass' : 'fail',
            maxAbsError: bwd.maxAbsError,
            tolerance: `atol ${F32_BACKWARD.atol} x max|ref| + rtol ${F32_BACKWARD.rtol}`,
            detail: `dq ${flat.length} rows x ${H} heads, dk/dv ${flat.length} rows x kv heads ${groups.join(',')}: ${bwd.message}`,
            seconds: (performance.now() - t1) / 1000,
          });
        } catch (e) {
          results.push({
            name: `attention ${variant} ${c.name}`,
            status: 'error',
            maxAbsError: null,
            tolerance: '',
            detail: errorMessage(e),
            seconds: (performance.now() - t1) / 1000,
          });
        }
      }
      // The f16 tensor-core forward (what inference uses where the device has subgroup matrices).
      const name = `attention forward f16 subgroup-matrix ${c.name}`;
      const t2 = performance.now();
      if (!attentionSubgroupMatrixShape(gpu, D)) {
        results.push({
          name,
          status: 'skipped',
          maxAbsError: null,
          tolerance: '',
          detail: 'skipped: device lacks subgroup matrices',
          seconds: 0,
        });
      } else {
        try {
          const rec = gpu.recorder();
          attentionForward(rec, q, k, v, out, lse, mask, { numHeads: H, numKvHeads: KV, headDim: D });
          rec.submit();
          const gotOut = await readRows(gpu, out, flat, H * D);
          const lseAll = (await gpu.read(lse)) as Float32Array;
          const gotLse = flat.map((r) => Float64Array.from({ length: H }, (_, h) => lseAll[h * rowsN + r]));
          const fwd = combine([
            ...flat.map((r, n) => compare(`out row ${r}`, gotOut[n], refOut[n], TOL_OUT_F16)),
            ...flat.map((r, n) => compare(`lse row ${r}`, gotLse[n], refLse[n], TOL_LSE_F16)),
          ]);
          results.push({
            name,
            status: fwd.ok ? 'pass' : 'fail',
            maxAbsError: fwd.maxAbsError,
            tolerance: `out ${toleranceText(TOL_OUT_F16)}; lse ${toleranceText(TOL_LSE_F16)}`,
            detail: `${describeAttention(gpu, { numHeads: H, numKvHeads: KV, headDim: D })}; ${flat.length} rows x ${H} heads: ${fwd.message}`,
            seconds: (performance.now() - t2) / 1000,
          });
          // The tensor-core backward on the tensor-core forward's out and lse.
          const t3 = performance.now();
          const rec2 = gpu.recorder();
          attentionBackward(rec2, q, k, v, out, dOut, lse, dq, dk, dv, mask, {
            numHeads: H,
            numKvHeads: KV,
            headDim: D,
          });
          rec2.submit();
          const bwd = await compareBackward(F16_BACKWARD);
          results.push({
            name: `attention backward f16 subgroup-matrix ${c.name}`,
            status: bwd.ok ? 'pass' : 'fail',
            maxAbsError: bwd.maxAbsError,
            tolerance: `atol ${F16_BACKWARD.atol} x max|ref| + rtol ${F16_BACKWARD.rtol}`,
            detail: `dq ${flat.length} rows x ${H} heads, dk/dv ${flat.length} rows x kv heads ${groups.join(',')}: ${bwd.message}`,
            seconds: (performance.now() - t3) / 1000,
          });
        } catch (e) {
          results.push({
            name,
            status: 'error',
            maxAbsError: null,
            tolerance: '',
            detail: errorMessage(e),
            seconds: 0,
          });
        }
      }
    } finally {
      for (const tensor of held) tensor.release();
      gpu.pool.trim();
    }
  }
  return results;
}
