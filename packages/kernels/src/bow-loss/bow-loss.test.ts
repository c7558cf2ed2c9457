import { assertClose, randomArray, seededRandom } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sumRows } from '../cross-entropy/sum-rows.ts';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { bowLossRef } from './bow-loss.ref.ts';
import { bowLoss } from './bow-loss.ts';

// Tolerances, as for cross-entropy: the f32 logsumexp over up to 32016 pooled logits has a relative
// error of at most ~(126 + 8) * 2^-24 in the sum plus a few ulp from exp/log, so the loss (lse minus
// the target mean, ~10) gets atol 2e-5 * |w| and rtol 1e-5; the gradient w * (softmax - count/n) gets
// rtol 5e-5 (exp of an argument off by ~1e-5) and atol 1e-7 * |w| for entries near zero. The max-pool
// and its argmax are exact (comparisons of the same f32 values), so routing is checked exactly.
const lossTol = (w: number) => ({ atol: 2e-5 * w, rtol: 1e-5 });
const gradTol = (w: number) => ({ atol: 1e-7 * w, rtol: 5e-5 });

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

interface Case {
  groups: number;
  positions: number;
  vocab: number;
  targets: number[][];
  weights: number[];
}

function csr(targets: number[][]): { offsets: Int32Array; ids: Int32Array } {
  const offsets = new Int32Array(targets.length + 1);
  targets.forEach((t, g) => {
    offsets[g + 1] = offsets[g] + t.length;
  });
  return { offsets, ids: Int32Array.from(targets.flat()) };
}

async function runGpu(t: TestGpu, logits: Float32Array, c: Case) {
  const { gpu } = t;
  const { offsets, ids } = csr(c.targets);
  const o = { groups: c.groups, positions: c.positions, vocab: c.vocab };
  const rows = c.groups * c.positions;
  const x = gpu.tensor('f32', [rows, c.vocab], logits);
  const off = gpu.tensor('i32', [c.groups + 1], offsets);
  // an empty id list still needs a (non-empty) buffer to bind
  const idt = gpu.tensor('i32', [Math.max(ids.length, 1)], ids.length ? ids : new Int32Array(1));
  const w = gpu.tensor('f32', [c.groups], Float32Array.from(c.weights));
  const loss = gpu.tensor('f32', [c.groups]);
  // filled with garbage first: the kernel must write every gradient element
  const d = gpu.tensor('f32', [rows, c.vocab], new Float32Array(rows * c.vocab).fill(7));
  const total = gpu.tensor('f32', [1]);
  const rec = gpu.recorder();
  bowLoss(rec, x, off, idt, w, loss, d, o);
  sumRows(rec, loss, total);
  rec.submit();
  const out = {
    loss: (await gpu.read(loss)) as Float32Array,
    dLogits: (await gpu.read(d)) as Float32Array,
    total: ((await gpu.read(total)) as Float32Array)[0],
  };
  for (const z of [x, off, idt, w, loss, d, total]) z.release();
  return out;
}

function randomTargets(count: number, vocab: number, seed: number): number[] {
  const r = seededRandom(seed);
  return Array.from({ length: count }, () => Math.floor(r() * vocab));
}

/** Logits on a coarse grid (multiples of 1/2 in [-3, 3]) so that max-pool ties are common. */
function tiedLogits(n: number, seed: number): Float32Array {
  return randomArray(n, seed, -3, 3).map((x) => Math.round(x * 2) / 2);
}

const cases: (Case & { name: string; logits: (n: number) => Float32Array })[] = [
  {
    name: 'P 8, vocab 7, ties, repeats, an empty group',
    groups: 3,
    positions: 8,
    vocab: 7,
    targets: [[3, 3, 5], [], [0, 6, 1]],
    weights: [0.05, 0.05, 0.05],
    logits: (n) => tiedLogits(n, 1),
  },
  {
    name: 'P 1 (paper), vocab 528',
    groups: 4,
    positions: 1,
    vocab: 528,
    targets: [randomTargets(50, 528, 2), [], randomTargets(3, 528, 3), [527, 0]],
    weights: [0.25, 0.5, 1, 2],
    logits: (n) => randomArray(n, 4, -8, 8),
  },
  {
    name: 'P 8, vocab 32016, more targets than invocations',
    groups: 2,
    positions: 8,
    vocab: 32016,
    targets: [randomTargets(300, 32016, 5), [32015, 32008, 3, 3, 4]],
    weights: [0.1, 0.1],
    logits: (n) => randomArray(n, 6, -8, 8),
  },
  {
    name: 'P 3, vocab 33, ties',
    groups: 5,
    positions: 3,
    vocab: 33,
    targets: [[1], randomTargets(40, 33, 7), [], [32, 32, 32], randomTargets(9, 33, 8)],
    weights: [1, 1, 1, 1, 1],
    logits: (n) => tiedLogits(n, 9),
  },
];

describe('bowLoss', () => {
  for (const c of cases) {
    it(`matches the f64 reference (${c.name})`, async () => {
      const logits = c.logits(c.groups * c.positions * c.vocab);
      const { offsets, ids } = csr(c.targets);
      const ref = bowLossRef(logits, offsets, ids, c.weights, c);
      const wMax = Math.max(...c.weights);
      for (const t of gpus) {
        const got = await runGpu(t, logits, c);
        assertClose(got.loss, ref.loss, lossTol(wMax), `${t.name} loss`);
        assertClose(got.dLogits, ref.dLogits, gradTol(wMax), `${t.name} dLogits`);
        assertClose([got.total], [ref.loss.reduce((a, b) => a + b, 0)], lossTol(wMax), `${t.name} total`);
        // routing: exactly zero wherever the reference routes nothing (non-max rows, empty groups)
        ref.dLogits.forEach((e, i) => {
          if (e === 0 && got.dLogits[i] !== 0) throw new Error(`${t.name}: dLogits[${i}] should be 0`);
        });
      }
    });
  }

  it('routes a tied maximum to the first position holding it', async () => {
    const c = { groups: 1, positions: 8, vocab: 7, targets: [[2, 4]], weights: [1] };
    const logits = randomArray(8 * 7, 11, -1, 1);
    // column 4: positions 2 and 5 tie at the maximum; column 0: all positions equal
    logits[2 * 7 + 4] = 5;
    logits[5 * 7 + 4] = 5;
    for (let p = 0; p < 8; p++) logits[p * 7] = 0.25;
    for (const t of gpus) {
      const got = await runGpu(t, logits, c);
      expect(got.dLogits[2 * 7 + 4], t.name).not.toBe(0);
      expect(got.dLogits[5 * 7 + 4], t.name).toBe(0);
      expect(got.dLogits[0], t.name).not.toBe(0);
      for (let p = 1; p < 8; p++) expect(got.dLogits[p * 7], t.name).toBe(0);
    }
  });

  it('propagates a NaN logit and an out-of-range target to that group only', async () => {
    const vocab = 40;
    const c = { groups: 3, positions: 8, vocab, targets: [[1, 2], [3], [4, vocab]], weights: [1, 1, 1] };
    const logits = randomArray(3 * 8 * vocab, 12, -2, 2);
    logits[(8 + 6) * vocab + 9] = Number.NaN; // group 1, position 6, a non-target column
    for (const t of gpus) {
      const got = await runGpu(t, logits, c);
      expect(Number.isFinite(got.loss[0]), t.name).toBe(true);
      expect(got.loss[1], t.name).toBeNaN();
      expect(got.loss[2], t.name).toBeNaN();
      expect(got.total, t.name).toBeNaN();
    }
  });
});

describe('bowLossRef', () => {
  it('gives the gradient that central finite differences give', () => {
    const o = { groups: 3, positions: 4, vocab: 7 };
    const logits = Float64Array.from(randomArray(3 * 4 * 7, 21, -3, 3));
    const { offsets, ids } = csr([[1, 1, 6], [0, 2, 3, 4], []]);
    const weights = [0.3, 1.5, 2];
    const total = (x: ArrayLike<number>) =>
      bowLossRef(x, offsets, ids, weights, o).loss.reduce((a, b) => a + b, 0);
    const { dLogits } = bowLossRef(logits, offsets, ids, weights, o);
    // random logits have no ties, so the max-pool is differentiable here and h stays inside one branch
    const h = 1e-6;
    const fd = logits.map((_, i) => {
      const x = Float64Array.from(logits);
      x[i] += h;
      const up = total(x);
      x[i] -= 2 * h;
      return (up - total(x)) / (2 * h);
    });
    assertClose(dLogits, fd, { atol: 1e-8, rtol: 1e-6 });
  });
});
