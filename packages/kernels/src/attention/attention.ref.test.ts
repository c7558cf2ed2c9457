import { assertClose, randomArray } from '@llara/gpu';
import { describe, expect, it } from 'vitest';
import { centralGradient, dot } from '../elementwise/finite-difference.ts';
import { attentionBackwardRef, attentionRef } from './attention.ref.ts';
import { llaraBlocks } from './attention-cases.ts';
import { maskTable } from './gpu-mask.ts';
import { denseMask, type MaskDescription, paddedCausalMask } from './mask.ts';

function tinyMask(causal: boolean): MaskDescription {
  // Sequence 0: left padding and a block rule (rows 3-4 must not see columns 1-2); sequence 1: right padding.
  return {
    batch: 2,
    seqLen: 6,
    causal,
    validStart: Int32Array.from([1, 0]),
    validEnd: Int32Array.from([6, 4]),
    block: Int32Array.from([1, 3, 3, 5, 0, 0, 0, 0]),
  };
}

describe('attention reference', () => {
  it('backward matches central differences of the forward (f64)', () => {
    for (const [causal, nh, nkv, hd] of [
      [true, 2, 1, 3],
      [false, 4, 2, 2],
    ] as const) {
      const m = tinyMask(causal);
      const o = { numHeads: nh, numKvHeads: nkv, headDim: hd, scale: 0.7 };
      const rows = m.batch * m.seqLen;
      const q = randomArray(rows * nh * hd, 1, -1.5, 1.5);
      const k = randomArray(rows * nkv * hd, 2, -1.5, 1.5);
      const v = randomArray(rows * nkv * hd, 3);
      const dOut = randomArray(rows * nh * hd, 4);
      const g = attentionBackwardRef(q, k, v, dOut, m, o);
      const loss = (qq: ArrayLike<number>, kk: ArrayLike<number>, vv: ArrayLike<number>) =>
        dot(dOut, attentionRef(qq, kk, vv, m, o).out);
      // h = 1e-5 central differences of an O(1) smooth loss are good to ~1e-9.
      const tol = { atol: 1e-8, rtol: 1e-7 };
      const what = `causal ${causal}, ${nh}/${nkv} heads`;
      assertClose(
        g.dq,
        centralGradient((x) => loss(x, k, v), q),
        tol,
        `dq ${what}`,
      );
      assertClose(
        g.dk,
        centralGradient((x) => loss(q, x, v), k),
        tol,
        `dk ${what}`,
      );
      assertClose(
        g.dv,
        centralGradient((x) => loss(q, k, x), v),
        tol,
        `dv ${what}`,
      );
    }
  });

  it('matches a softmax over the dense mask, written independently', () => {
    const m: MaskDescription = {
      ...paddedCausalMask(50, [50, 41], 'left'),
      block: Int32Array.from([...llaraBlocks(0, 0), 0, 0, 0, 0]),
    };
    const [nh, nkv, hd] = [4, 2, 5];
    const rows = m.batch * m.seqLen;
    const q = randomArray(rows * nh * hd, 5);
    const k = randomArray(rows * nkv * hd, 6);
    const v = randomArray(rows * nkv * hd, 7);
    const { out, lse } = attentionRef(q, k, v, m, { numHeads: nh, numKvHeads: nkv, headDim: hd });
    const dense = denseMask(m);
    const T = m.seqLen;
    const scale = 1 / Math.sqrt(hd);
    for (let r = 0; r < rows; r++)
      for (let h = 0; h < nh; h++) {
        const g = Math.floor(h / 2);
        const b = Math.floor(r / T);
        const w: number[] = [];
        for (let j = 0; j < T; j++) {
          let s = 0;
          for (let d = 0; d < hd; d++)
            s += q[r * nh * hd + h * hd + d] * k[(b * T + j) * nkv * hd + g * hd + d];
          w.push(dense[r * T + j] ? Math.exp(scale * s) : 0);
        }
        const z = w.reduce((a, x) => a + x, 0);
        expect(lse[h * rows + r]).toBeCloseTo(Math.log(z), 12);
        for (let d = 0; d < hd; d++) {
          const want =
            z === 0 ? 0 : w.reduce((a, x, j) => a + (x / z) * v[(b * T + j) * nkv * hd + g * hd + d], 0);
          expect(out[r * nh * hd + h * hd + d]).toBeCloseTo(want, 12);
        }
      }
    // Sequence 1 is left-padded by 9 slots: those rows see nothing.
    expect(lse[rows + T]).toBe(Number.NEGATIVE_INFINITY);
    expect(out[T * nh * hd]).toBe(0);
  });
});

describe('mask table', () => {
  it('lays out (validStart, validEnd, aStart, aEnd, bStart, bEnd) per sequence', () => {
    const m: MaskDescription = {
      ...paddedCausalMask(8, [8, 5], 'right'),
      block: Int32Array.from([1, 3, 3, 5, 0, 0, 0, 0]),
    };
    expect(Array.from(maskTable(m))).toEqual([0, 8, 1, 3, 3, 5, 0, 5, 0, 0, 0, 0]);
    expect(Array.from(maskTable(paddedCausalMask(4, [2], 'left')))).toEqual([2, 4, 0, 0, 0, 0]);
  });

  it('rejects ranges outside the sequence in one sentence', () => {
    const bad = paddedCausalMask(8, [8], 'left');
    bad.validEnd[0] = 9;
    expect(() => maskTable(bad)).toThrow('Mask sequence 0 has valid range [0, 9), outside 0..8 or reversed.');
    const rev: MaskDescription = {
      ...paddedCausalMask(8, [8], 'left'),
      block: Int32Array.from([5, 2, 0, 0]),
    };
    expect(() => maskTable(rev)).toThrow(/block A \[5, 2\)/);
    const short: MaskDescription = {
      ...paddedCausalMask(8, [8, 8], 'left'),
      block: Int32Array.from([0, 0, 0, 0]),
    };
    expect(() => maskTable(short)).toThrow('Mask block has 4 entries; a batch of 2 needs 8.');
  });
});
