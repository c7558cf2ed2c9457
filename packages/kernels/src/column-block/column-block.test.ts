import { assertClose, randomArray } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { copyColumnsRef } from './column-block.ref.ts';
import { type ColumnBlock, copyColumns } from './column-block.ts';

// A copy is exact; an accumulation is one correctly rounded f32 addition per element.
const EXACT = { atol: 0, rtol: 0 };
const ONE_ADD = { atol: 0, rtol: 1.2e-7 };

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

describe('copyColumns', () => {
  const blocks: ColumnBlock[] = [
    { rows: 3, cols: 5, srcStride: 5, dstStride: 17, dstCol0: 12 }, // a part's logits into place
    { rows: 7, cols: 4, srcStride: 13, srcCol0: 9, dstStride: 4 }, // a slice of the logit gradient out
    { rows: 300, cols: 300, srcStride: 301, srcCol0: 1, dstStride: 300, accumulate: true },
  ];
  it('copies and accumulates blocks of columns, leaving the other columns alone', async () => {
    for (const { name, gpu } of gpus)
      for (const [i, b] of blocks.entries()) {
        const src = randomArray(b.rows * b.srcStride, 10 + i);
        const dst = randomArray(b.rows * b.dstStride, 20 + i);
        const st = gpu.tensor('f32', [src.length], src);
        const dt = gpu.tensor('f32', [dst.length], dst);
        const rec = gpu.recorder();
        copyColumns(rec, st, dt, b);
        rec.submit();
        assertClose(
          await gpu.read(dt),
          copyColumnsRef(src, dst, b),
          b.accumulate ? ONE_ADD : EXACT,
          `${name} ${i}`,
        );
        st.release();
        dt.release();
      }
  });

  it('refuses blocks that do not fit with one sentence', () => {
    const { gpu } = gpus[0];
    const t = gpu.tensor('f32', [20]);
    const u = gpu.tensor('f32', [20]);
    const rec = gpu.recorder();
    expect(() =>
      copyColumns(rec, t, u, { rows: 2, cols: 6, srcStride: 10, srcCol0: 5, dstStride: 10 }),
    ).toThrow('copyColumns: columns 5..11 of 10 -> 0..6 of 10 do not fit the rows.');
    expect(() => copyColumns(rec, t, u, { rows: 3, cols: 2, srcStride: 10, dstStride: 10 })).toThrow(
      /fewer than 3 rows/,
    );
    expect(rec.pending).toBe(0);
    t.release();
    u.release();
  });
});
