import { assertClose, type Gpu, randomArray } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { attentionBackwardRef, attentionRef } from './attention.ref.ts';
import { attentionBackward } from './attention-backward.ts';
import { ATTENTION_CASES, type AttentionCase } from './attention-cases.ts';
import type { AttentionVariant } from './attention-config.ts';
import { attentionForward, describeAttention } from './attention-forward.ts';
import { attentionLayout } from './attention-layout.ts';
import { uploadMask } from './gpu-mask.ts';
import { maskAllows, paddedCausalMask } from './mask.ts';

// Tolerances (inputs uniform in [-1, 1], T <= 130, head dim <= 64).
// Forward: each output is a convex combination of <= 130 values in [-1, 1] accumulated in f32
// (<= 130 * 2^-24 ~ 8e-6 worst case) with weights from exp, which WGSL allows 3 + 2|x| ulp of error
// (|x| < 10 here: ~2e-6 relative); lse adds log's 3 ulp. Observed: ~1e-7 (out), ~1e-6 (lse ~ 5).
const FWD = { atol: 1e-5, rtol: 1e-5 };
// Backward: ds_j = p_j (dOut.v_j - D) is a difference of terms up to |dOut.v| <= ~8 carrying the
// forward's relative error, summed over <= 130 keys (and 4 GQA heads for dK/dV): ~1e-5 absolute per
// unit of gradient. Observed: 1e-7 to 2e-6.
const BWD = { atol: 5e-5, rtol: 1e-4 };

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

/**
 * The plain fallback, and subgroups where the device would choose it for this head dim (not at
 * head dim 8, whose layout equals head dim 10's minus the partial chunk: one less compile on llvmpipe).
 */
function variants(gpu: Gpu, headDim: number): AttentionVariant[] {
  return attentionLayout(gpu, { headDim }).variant === 'subgroups' ? ['plain', 'subgroups'] : ['plain'];
}

const nanFilled = (n: number) => new Float32Array(n).fill(Number.NaN);

async function runCase(gpu: Gpu, c: AttentionCase, variant: AttentionVariant, what: string): Promise<void> {
  const { mask: m, numHeads: nh, numKvHeads: nkv, headDim: hd } = c;
  const o = {
    numHeads: nh,
    numKvHeads: nkv,
    headDim: hd,
    variant,
    maxWorkgroupsPerDim: c.maxWorkgroupsPerDim,
  };
  const rows = m.batch * m.seqLen;
  const seed = rows * 31 + hd;
  const data = {
    q: randomArray(rows * nh * hd, seed),
    k: randomArray(rows * nkv * hd, seed + 1),
    v: randomArray(rows * nkv * hd, seed + 2),
    dOut: randomArray(rows * nh * hd, seed + 3),
  };
  // Padding slots hold NaN: whatever a padded batch leaves there must never reach a valid row.
  for (let b = 0; b < m.batch; b++)
    for (let i = 0; i < m.seqLen; i++) {
      if (i >= m.validStart[b] && i < m.validEnd[b]) continue;
      const r = b * m.seqLen + i;
      for (const [x, w] of [
        [data.q, nh * hd],
        [data.k, nkv * hd],
        [data.v, nkv * hd],
        [data.dOut, nh * hd],
      ] as const)
        x.fill(Number.NaN, r * w, (r + 1) * w);
    }
  const qShape = [rows, nh * hd];
  const kvShape = [rows, nkv * hd];
  const q = gpu.tensor('f32', qShape, data.q);
  const k = gpu.tensor('f32', kvShape, data.k);
  const v = gpu.tensor('f32', kvShape, data.v);
  const dOut = gpu.tensor('f32', qShape, data.dOut);
  // Outputs start as NaN: every element, padding included, must be written.
  const out = gpu.tensor('f32', qShape, nanFilled(rows * nh * hd));
  const lse = gpu.tensor('f32', [nh, rows], nanFilled(nh * rows));
  const dq = gpu.tensor('f32', qShape, nanFilled(rows * nh * hd));
  const dk = gpu.tensor('f32', kvShape, nanFilled(rows * nkv * hd));
  const dv = gpu.tensor('f32', kvShape, nanFilled(rows * nkv * hd));
  const mask = uploadMask(gpu, m);
  const rec = gpu.recorder();
  attentionForward(rec, q, k, v, out, lse, mask, o);
  attentionBackward(rec, q, k, v, out, dOut, lse, dq, dk, dv, mask, o);
  rec.submit();

  const want = attentionRef(data.q, data.k, data.v, m, o);
  const grads = attentionBackwardRef(data.q, data.k, data.v, data.dOut, m, o);
  const got = {
    out: await gpu.read(out),
    lse: await gpu.read(lse),
    dq: await gpu.read(dq),
    dk: await gpu.read(dk),
    dv: await gpu.read(dv),
  };
  assertClose(got.out, want.out, FWD, `${what} out`);
  assertClose(got.lse, want.lse, FWD, `${what} lse`);
  assertClose(got.dq, grads.dq, BWD, `${what} dq`);
  assertClose(got.dk, grads.dk, BWD, `${what} dk`);
  assertClose(got.dv, grads.dv, BWD, `${what} dv`);

  // Rows that see no key: exactly zero output and gradients, -Infinity lse (compared exactly above).
  for (let b = 0; b < m.batch; b++)
    for (let i = 0; i < m.seqLen; i++) {
      const r = b * m.seqLen + i;
      const blind = ![...Array(m.seqLen).keys()].some((j) => maskAllows(m, b, i, j));
      const unseen = ![...Array(m.seqLen).keys()].some((j) => maskAllows(m, b, j, i));
      if (blind) {
        expect(
          got.out.subarray(r * nh * hd, (r + 1) * nh * hd).every((x) => x === 0),
          `${what} out row ${r}`,
        ).toBe(true);
        expect(
          got.dq.subarray(r * nh * hd, (r + 1) * nh * hd).every((x) => x === 0),
          `${what} dq row ${r}`,
        ).toBe(true);
      }
      if (unseen) {
        expect(
          got.dk.subarray(r * nkv * hd, (r + 1) * nkv * hd).every((x) => x === 0),
          `${what} dk row ${r}`,
        ).toBe(true);
        expect(
          got.dv.subarray(r * nkv * hd, (r + 1) * nkv * hd).every((x) => x === 0),
          `${what} dv row ${r}`,
        ).toBe(true);
      }
    }
  for (const t of [q, k, v, dOut, out, lse, dq, dk, dv, mask.table]) t.release();
}

describe('attention on the GPU', () => {
  for (const c of ATTENTION_CASES) {
    it(`forward and backward match the reference: ${c.name}`, async () => {
      for (const { name, gpu } of gpus)
        for (const variant of variants(gpu, c.headDim)) {
          const what = `${name}/${variant} T=${c.mask.seqLen} hd=${c.headDim} ${c.numHeads}/${c.numKvHeads}`;
          const saved = gpu.maxDispatchFlops;
          gpu.maxDispatchFlops = c.maxDispatchFlops ?? saved;
          try {
            await runCase(gpu, c, variant, what);
          } finally {
            gpu.maxDispatchFlops = saved;
          }
        }
    });
  }

  it('chooses the variant by device and head dim, and says so', () => {
    for (const { gpu } of gpus) {
      expect(attentionLayout(gpu, { headDim: 8 }).variant).toBe('plain');
      const wide = attentionLayout(gpu, { headDim: 128 });
      expect(wide.variant).toBe(gpu.has('subgroups') ? 'subgroups' : 'plain');
      expect(wide.rows * wide.lanes).toBe(wide.workgroup);
      expect(wide.workgroup).toBeLessThanOrEqual(256);
      // Two tiles of keys (or queries with their lse and D) stay within WebGPU's default 16 KiB.
      expect(2 * wide.keyTile * wide.lanes * wide.chunks * 16).toBeLessThanOrEqual(16384);
      expect(wide.queryTile * (2 * wide.lanes * wide.chunks * 16 + 8)).toBeLessThanOrEqual(16384);
      expect(describeAttention(gpu, { numHeads: 32, numKvHeads: 32, headDim: 128 })).toMatch(
        new RegExp(`^attention f32 ${wide.variant}: `),
      );
      if (!gpu.has('subgroups')) {
        expect(() => attentionLayout(gpu, { headDim: 64, variant: 'subgroups' })).toThrow(
          'The subgroups attention variant needs the subgroups feature, which this device lacks.',
        );
      }
    }
  });

  it('rejects mismatched shapes and heads in one sentence', () => {
    const gpu = gpus[0].gpu;
    const mask = uploadMask(gpu, paddedCausalMask(4, [4, 3], 'left'));
    const t = (n: number) => gpu.tensor('f32', [n]);
    const o = { numHeads: 4, numKvHeads: 2, headDim: 8 };
    const [q, kv, lse] = [t(8 * 32), t(8 * 16), t(4 * 8)];
    const rec = gpu.recorder();
    expect(() => attentionForward(rec, q, t(8 * 32), kv, q, lse, mask, o)).toThrow(
      /^Attention k must be f32 with 128 elements \(\[8, 2\*8\]\), got Tensor/,
    );
    expect(() => attentionForward(rec, q, kv, kv, t(32), lse, mask, { ...o, numKvHeads: 3 })).toThrow(
      'Attention needs positive integer heads with numHeads a multiple of numKvHeads (got 4, 3, headDim 8).',
    );
    expect(() => attentionForward(rec, q, kv, kv, t(8 * 32), t(5), mask, o)).toThrow(
      /^Attention lse must be f32 \[4, 8\]/,
    );
    expect(rec.pending).toBe(0);
    mask.table.release();
  });
});
