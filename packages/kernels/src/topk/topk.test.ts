import { randomArray, seededRandom } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { topkRef } from './topk.ref.ts';
import { describeTopk, topk, topkSegments, topkTargetGroups } from './topk.ts';

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

interface Case {
  rows: number;
  cols: number;
  k: number;
  segments?: number;
}

async function runGpu(t: TestGpu, scores: Float32Array, o: Case) {
  const { gpu } = t;
  const s = gpu.tensor('f32', [o.rows, o.cols], scores);
  const idx = gpu.tensor('i32', [o.rows, o.k]);
  const val = gpu.tensor('f32', [o.rows, o.k]);
  const rec = gpu.recorder();
  topk(rec, s, idx, val, o);
  rec.submit();
  const out = { index: (await gpu.read(idx)) as Int32Array, score: (await gpu.read(val)) as Float32Array };
  for (const z of [s, idx, val]) z.release();
  return out;
}

// Both outputs are exact: indices follow a total order and scores are gathered, not recomputed.
async function expectMatchesRef(scores: Float32Array, o: Case) {
  const ref = topkRef(scores, o);
  for (const t of gpus) {
    const got = await runGpu(t, scores, o);
    expect(Array.from(got.index), `${t.name} index`).toEqual(Array.from(ref.index));
    expect(Array.from(got.score), `${t.name} score`).toEqual(Array.from(ref.score));
  }
}

describe('topk', { timeout: 60_000 }, () => {
  for (const cols of [1, 5, 1000, 70000]) {
    for (const k of [1, 10, 1000]) {
      const rows = cols >= 70000 ? 2 : 3;
      it(`matches the reference (rows ${rows}, cols ${cols}, k ${k})`, async () => {
        await expectMatchesRef(randomArray(rows * cols, cols * 7 + k, -3, 3), { rows, cols, k });
      });
    }
  }

  it('splits long rows into segments and merges them', () => {
    expect(topkSegments(2, 70000, 1000)).toBe(8);
    expect(topkSegments(1, 1_000_000, 10)).toBeGreaterThan(100);
    expect(topkSegments(4096, 70000, 10)).toBe(1);
    expect(topkSegments(3, 1000, 10)).toBe(1);
    // A software adapter runs a few workgroups at once: fewer segments, less merging.
    expect(topkSegments(2, 70000, 1000, 8)).toBe(4);
    expect(topkSegments(8, 100_000, 10, 8)).toBe(1);
    expect(topkTargetGroups(gpus[1].gpu)).toBe(gpus[1].gpu.caps.isFallbackAdapter ? 8 : 1024);
    expect(describeTopk(gpus[1].gpu, { rows: 2, cols: 70000, k: 1000, segments: 8 })).toBe(
      'topk [2 x 70000] k=1000: 8 segments per row + merge, workgroup-atomic append',
    );
  });

  it('orders ties by lower column, also across segments', async () => {
    const rows = 3;
    const cols = 3000;
    const r = seededRandom(5);
    // Five distinct values only, so every top-k boundary falls inside a run of ties.
    const scores = Float32Array.from({ length: rows * cols }, () => Math.floor(r() * 5) / 4);
    for (const k of [1, 10, 1000]) {
      await expectMatchesRef(scores, { rows, cols, k });
      await expectMatchesRef(scores, { rows, cols, k, segments: 7 });
    }
  });

  it('ranks NaN last, keeps infinities and treats -0 as 0', async () => {
    const rows = 2;
    const cols = 600;
    const scores = randomArray(rows * cols, 11, -1, 1);
    const r = seededRandom(12);
    for (let i = 0; i < scores.length; i++) {
      const u = r();
      if (u < 0.2) scores[i] = Number.NaN;
      else if (u < 0.25) scores[i] = Number.NEGATIVE_INFINITY;
      else if (u < 0.27) scores[i] = Number.POSITIVE_INFINITY;
      else if (u < 0.35) scores[i] = u < 0.31 ? -0 : 0;
    }
    // A row of NaN only: all of them, by column.
    scores.fill(Number.NaN, 0, 40);
    for (const k of [10, 500, 1000]) {
      await expectMatchesRef(scores, { rows, cols, k });
      await expectMatchesRef(scores, { rows, cols, k, segments: 3 });
    }
    const onlyNaN = new Float32Array(7).fill(Number.NaN);
    await expectMatchesRef(onlyNaN, { rows: 1, cols: 7, k: 10 });
  });

  it('handles segments shorter than k (empty list tails) and many rows', async () => {
    await expectMatchesRef(randomArray(5 * 1000, 3), { rows: 5, cols: 1000, k: 1000, segments: 9 });
    await expectMatchesRef(randomArray(300 * 40, 4), { rows: 300, cols: 40, k: 10 });
  });

  it('processes rows in blocks when their segment lists outgrow the scratch buffer', async () => {
    // 600 one-column segments of k = 1000 entries: 600k (key, column) pairs per row, so with the
    // 1M-pair scratch each row is a block of its own (rowOffset 0, 1, 2).
    await expectMatchesRef(randomArray(3 * 600, 8), { rows: 3, cols: 600, k: 1000, segments: 600 });
  });

  it('rejects shapes it cannot serve with one clear sentence', () => {
    const { gpu } = gpus[0];
    const s = gpu.tensor('f32', [2, 8]);
    const idx = gpu.tensor('i32', [2, 1001]);
    const val = gpu.tensor('f32', [2, 1001]);
    const rec = gpu.recorder();
    expect(() => topk(rec, s, idx, val, { rows: 2, cols: 8, k: 1001 })).toThrow(/more than the 1000/);
    expect(() => topk(rec, s, idx, val, { rows: 2, cols: 9, k: 1001 })).toThrow(/k = 1001|rows \* cols/);
    expect(() => topk(rec, s, idx, val, { rows: 2, cols: 8, k: 0 })).toThrow(/k must be a positive integer/);
    for (const z of [s, idx, val]) z.release();
  });
});
