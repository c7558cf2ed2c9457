/**
 * The tensor-core attention forward and backward, which only the H100 can run (benchmarks/gpu/run-all.sh checks them
 * there): its algorithm through the line-by-line CPU emulation against the f64 reference on every
 * mask the f32 kernels are tested on, and the WGSL compiled by Tint for every matrix shape.
 */
import { compareClose, preprocess, randomArray } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { describe, expect, it } from 'vitest';
import type { SubgroupMatrixShape } from '../matmul/matmul-subgroup-matrix.ts';
import { subgroupMatrixDefines } from '../matmul/matmul-subgroup-matrix.ts';
import { attentionBackwardRef, attentionRef } from './attention.ref.ts';
import { emulateAttentionBackwardSubgroupMatrix } from './attention-backward-subgroup-matrix.emu.ts';
import {
  attentionBackwardScale,
  attentionBackwardSubgroupMatrixSources,
} from './attention-backward-subgroup-matrix.ts';
import { llaraBlocks, mask } from './attention-cases.ts';
import { emulateAttentionForwardSubgroupMatrix } from './attention-forward-subgroup-matrix.emu.ts';
import {
  attentionSubgroupMatrixBytes,
  attentionSubgroupMatrixSource,
} from './attention-forward-subgroup-matrix.ts';
import type { MaskDescription } from './mask.ts';

const SHAPES: SubgroupMatrixShape[] = [
  { M: 16, N: 16, K: 16 },
  { M: 16, N: 8, K: 16 },
  { M: 16, N: 8, K: 8 },
  { M: 8, N: 8, K: 8 },
];

/**
 * q, k, v and the probabilities are rounded to f16 (relative 2^-11 each): scores of O(1) are off by
 * ~1e-3 at most, probabilities by 1e-3 relative, and out (a convex combination of v in [-1, 1]) by a
 * few 1e-3: atol 5e-3, rtol 5e-3 (the f32 kernel is held to 1e-5).
 */
const TOL = { atol: 5e-3, rtol: 5e-3 };

const CASES: { name: string; mask: MaskDescription; nh: number; nkv: number; hd: number }[] = [
  { name: 'one token', mask: mask(1, true, [[0, 1]]), nh: 2, nkv: 2, hd: 16 },
  {
    name: 'GQA 4/2, causal, left and right padding, block-B rows that see nothing',
    mask: mask(
      37,
      true,
      [
        [5, 37],
        [0, 30],
      ],
      [
        [0, 0, 0, 0],
        [0, 2, 0, 2],
      ],
    ),
    nh: 4,
    nkv: 2,
    hd: 32,
  },
  {
    name: 'MQA 4/1, bidirectional, padding, head dim 64',
    mask: mask(45, false, [
      [0, 45],
      [4, 30],
    ]),
    nh: 4,
    nkv: 1,
    hd: 64,
  },
  {
    name: 'LLaRA flag layout (EBAE block A, EBAR block B), left padding, several key tiles',
    mask: mask(
      130,
      true,
      [
        [0, 130],
        [30, 130],
      ],
      [llaraBlocks(0, 91), llaraBlocks(30, 61)],
    ),
    nh: 2,
    nkv: 1,
    hd: 16,
  },
];

function validOut(x: ArrayLike<number>, m: MaskDescription, width: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < m.batch; b++)
    for (let i = 0; i < m.seqLen; i++)
      for (let c = 0; c < width; c++) out.push(x[(b * m.seqLen + i) * width + c]);
  return out;
}

describe('tensor-core attention forward (CPU emulation of its tiling; the kernel runs only on the H100)', () => {
  for (const c of CASES) {
    it(`matches the reference: ${c.name}`, () => {
      const rows = c.mask.batch * c.mask.seqLen;
      const q = randomArray(rows * c.nh * c.hd, rows + c.hd);
      const k = randomArray(rows * c.nkv * c.hd, rows + c.hd + 1);
      const v = randomArray(rows * c.nkv * c.hd, rows + c.hd + 2);
      const o = { numHeads: c.nh, numKvHeads: c.nkv, headDim: c.hd };
      const want = attentionRef(q, k, v, c.mask, o);
      SHAPES.forEach((shape, n) => {
        const what = `${shape.M}x${shape.N}x${shape.K}`;
        const emu = { shape, maxSubgroupSize: 32, ...(n === 1 ? { subgroupSize: 16 } : {}) };
        const got = emulateAttentionForwardSubgroupMatrix(q, k, v, c.mask, o, emu);
        // Every slot is written (padding rows with zeros), so no NaN placeholder survives.
        const r = compareClose(
          validOut(got.out, c.mask, c.nh * c.hd),
          validOut(want.out, c.mask, c.nh * c.hd),
          TOL,
          `${what} out`,
        );
        expect(r.ok, r.message).toBe(true);
        for (let e = 0; e < want.lse.length; e++) {
          if (want.lse[e] === Number.NEGATIVE_INFINITY)
            expect(got.lse[e], `${what} lse ${e}`).toBe(Number.NEGATIVE_INFINITY);
          else expect(Math.abs(got.lse[e] - want.lse[e]), `${what} lse ${e}`).toBeLessThan(5e-3);
        }
      });
    });
  }

  for (const c of CASES) {
    it(`backward matches the reference: ${c.name}`, () => {
      const rows = c.mask.batch * c.mask.seqLen;
      const q = randomArray(rows * c.nh * c.hd, rows + c.hd);
      const k = randomArray(rows * c.nkv * c.hd, rows + c.hd + 1);
      const v = randomArray(rows * c.nkv * c.hd, rows + c.hd + 2);
      // Small gradients, as a loss's are: the kernels scale dOut before rounding it to f16.
      const dOut = randomArray(rows * c.nh * c.hd, rows + c.hd + 3, -1e-6, 1e-6);
      const o = { numHeads: c.nh, numKvHeads: c.nkv, headDim: c.hd };
      const want = attentionBackwardRef(q, k, v, dOut, c.mask, o);
      [SHAPES[0], SHAPES[3]].forEach((shape, n) => {
        const emu = { shape, maxSubgroupSize: 32, ...(n === 1 ? { subgroupSize: 16 } : {}) };
        const fwd = emulateAttentionForwardSubgroupMatrix(q, k, v, c.mask, o, emu);
        const got = emulateAttentionBackwardSubgroupMatrix({ q, k, v, dOut, ...fwd }, c.mask, o, emu);
        for (const [name, g, w, width] of [
          ['dq', got.dq, want.dq, c.nh * c.hd],
          ['dk', got.dk, want.dk, c.nkv * c.hd],
          ['dv', got.dv, want.dv, c.nkv * c.hd],
        ] as const) {
          // Gradients that are exactly 0 (one visible key: dS = dP - D) come out at f16 rounding of dOut
          // terms, so the scale has a floor at a tenth of |dOut|'s range.
          const scale = Math.max(...Array.from(w, Math.abs), 1e-7);
          // f16 operands (relative 2^-11) over sums of tens of terms: 1% of the largest gradient.
          const r = compareClose(
            validOut(g, c.mask, width),
            validOut(w, c.mask, width),
            { atol: 1e-2 * scale, rtol: 1e-2 },
            `${shape.M}x${shape.N}x${shape.K} ${name}`,
          );
          expect(r.ok, r.message).toBe(true);
        }
      });
    });
  }

  it('fits the H100 workgroup memory at head dim 128 and the default 16 KiB at head dim 32', () => {
    expect(attentionSubgroupMatrixBytes(128, 16)).toBeLessThanOrEqual(48 * 1024);
    expect(attentionSubgroupMatrixBytes(32, 16)).toBeLessThanOrEqual(16 * 1024);
  });
});

describe('tensor-core attention backward: the dOut scale kernel (runs everywhere)', () => {
  it('takes the largest amax of each kv group, and 1 for a group of zeros', async () => {
    const gpu = await requestNodeGpu();
    try {
      const [rows, nh, nkv] = [70, 6, 3];
      const count = nh * rows;
      const stats = randomArray(3 * count + nkv, 5, 0, 1);
      stats.fill(0, 2 * count + 4 * rows, 2 * count + 6 * rows); // kv group 2 (heads 4, 5): all zero
      stats[2 * count + 3 * rows - 1] = 7.5; // the last row of head 2 (group 1)
      const t = gpu.tensor('f32', [stats.length], stats);
      const rec = gpu.recorder();
      attentionBackwardScale(rec, t, { rows, nh, nkv });
      rec.submit();
      const got = (await gpu.read(t)) as Float32Array;
      const want = [0, 1].map((g) =>
        Math.max(...stats.subarray(2 * count + 2 * g * rows, 2 * count + 2 * (g + 1) * rows)),
      );
      expect(Array.from(got.subarray(3 * count))).toEqual([want[0], 7.5, 1]);
      expect(want[1]).toBe(7.5);
      t.release();
    } finally {
      gpu.destroy();
    }
  });
});

describe('tensor-core attention WGSL', () => {
  // Dawn's null backend offers the subgroup-matrix extension without running anything: Tint parses
  // and validates each shader module, so every define combination is at least well-typed WGSL.
  it('compiles for every matrix shape and head dim', async () => {
    const gpu = await requestNodeGpu({ backend: 'null' });
    try {
      if (!gpu.features.has('chromium-experimental-subgroup-matrix') || !gpu.features.has('shader-f16'))
        return;
      const failures: string[] = [];
      for (const shape of SHAPES)
        for (const hd of [16, 64, 128]) {
          const bw = attentionBackwardSubgroupMatrixSources(hd);
          for (const [kernel, code] of [
            ['forward', attentionSubgroupMatrixSource(hd)],
            ['dq', bw.dq],
            ['dkdv', bw.dkdv],
          ]) {
            const module = gpu.device.createShaderModule({
              code: preprocess(code, subgroupMatrixDefines(shape)),
            });
            const info = await module.getCompilationInfo();
            const errors = info.messages.filter((m) => m.type === 'error');
            if (errors.length)
              failures.push(
                `${kernel} ${JSON.stringify(shape)} hd ${hd}: ${errors[0].message} (line ${errors[0].lineNum})`,
              );
          }
        }
      expect(failures).toEqual([]);
    } finally {
      gpu.destroy();
    }
  });
});
