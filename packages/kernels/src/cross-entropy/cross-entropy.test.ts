import { assertClose, randomArray, seededRandom } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { crossEntropyRef, sumRowsRef } from './cross-entropy.ref.ts';
import { crossEntropy } from './cross-entropy.ts';
import { rowReduceVariant } from './row-reduce.ts';
import { sumRows } from './sum-rows.ts';

// Tolerances. The GPU sums up to 32016 exponentials in f32 (each invocation folds vocab/256 terms, then
// a 256-way tree): relative error of the sum <= (126 + 8) * 2^-24 ~ 8e-6 in the worst case, and WGSL's
// exp/log add a few ulp; the loss (~log V ~ 10) is a difference of two such values. So losses get
// atol 2e-5 * |weight| + rtol 1e-5 (measured: 1e-6 at V 32016). Gradients are weight * scale *
// (softmax - onehot); the softmax's relative error is dominated by rounding z = scale * logit to f32,
// |z| * 2^-24 <= 2.4e-5 for |z| <= 400 as here (8 * 50), so rtol 5e-5 (measured: 3.2e-5), and an atol
// of 1e-7 * |weight * scale| for the entries near zero.
const lossTol = (w: number) => ({ atol: 2e-5 * Math.abs(w), rtol: 1e-5 });
const gradTol = (ws: number) => ({ atol: 1e-7 * Math.abs(ws), rtol: 5e-5 });

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

async function runGpu(
  t: TestGpu,
  logits: Float32Array,
  labels: Int32Array,
  o: { rows: number; vocab: number; weight: number; scale?: number },
): Promise<{ loss: Float32Array; dLogits: Float32Array; total: number }> {
  const { gpu } = t;
  const x = gpu.tensor('f32', [o.rows, o.vocab], logits);
  const y = gpu.tensor('i32', [o.rows], labels);
  const loss = gpu.tensor('f32', [o.rows]);
  const d = gpu.tensor('f32', [o.rows, o.vocab]);
  const total = gpu.tensor('f32', [2]);
  const rec = gpu.recorder();
  crossEntropy(rec, x, y, loss, d, o);
  sumRows(rec, loss, total, { index: 1 });
  rec.submit();
  const out = {
    loss: (await gpu.read(loss)) as Float32Array,
    dLogits: (await gpu.read(d)) as Float32Array,
    total: ((await gpu.read(total)) as Float32Array)[1],
  };
  for (const z of [x, y, loss, d, total]) z.release();
  return out;
}

function randomLabels(rows: number, vocab: number, seed: number): Int32Array {
  const r = seededRandom(seed);
  return Int32Array.from({ length: rows }, () => Math.floor(r() * vocab));
}

describe('crossEntropy', () => {
  const cases = [
    { rows: 3, vocab: 7, scale: 1, labels: [2, -1, 6] },
    { rows: 5, vocab: 528, scale: 50, labels: [0, 527, -100, 13, 200] },
    { rows: 2, vocab: 32016, scale: 1, labels: [32015, 31999] },
    { rows: 70, vocab: 33, scale: 1, labels: Array.from(randomLabels(70, 33, 9)) },
  ];
  for (const c of cases) {
    it(`matches the f64 reference (rows ${c.rows}, vocab ${c.vocab}, scale ${c.scale})`, async () => {
      const logits = randomArray(c.rows * c.vocab, c.rows * 1000 + c.vocab, -8, 8);
      const labels = Int32Array.from(c.labels);
      const weight = 1 / labels.filter((l) => l >= 0).length;
      const o = { rows: c.rows, vocab: c.vocab, weight, scale: c.scale };
      const ref = crossEntropyRef(logits, labels, o);
      for (const t of gpus) {
        const got = await runGpu(t, logits, labels, o);
        assertClose(got.loss, ref.loss, lossTol(weight), `${t.name} loss`);
        assertClose(got.dLogits, ref.dLogits, gradTol(weight * c.scale), `${t.name} dLogits`);
        assertClose([got.total], [sumRowsRef(ref.loss)], lossTol(1), `${t.name} summed loss`);
        // ignored rows: exactly zero, not merely small
        labels.forEach((l, r) => {
          if (l < 0)
            expect(got.dLogits.slice(r * c.vocab, (r + 1) * c.vocab).every((v) => v === 0)).toBe(true);
        });
      }
    });
  }

  it('propagates NaN logits and out-of-range labels to the loss', async () => {
    const vocab = 300;
    const logits = randomArray(3 * vocab, 5, -3, 3);
    logits[vocab + 17] = Number.NaN;
    const labels = Int32Array.from([4, 5, vocab]);
    for (const t of gpus) {
      const got = await runGpu(t, logits, labels, { rows: 3, vocab, weight: 1 });
      expect(Number.isFinite(got.loss[0]), t.name).toBe(true);
      expect(got.loss[1], t.name).toBeNaN();
      expect(got.loss[2], t.name).toBeNaN();
      expect(got.total, t.name).toBeNaN();
    }
  });

  it('picks the subgroup reduction where the device has subgroups', () => {
    for (const t of gpus) {
      expect(rowReduceVariant(t.gpu)).toBe(t.gpu.has('subgroups') ? 'subgroups' : 'f32');
    }
  });
});

describe('crossEntropyRef', () => {
  it('gives the gradient that central finite differences give', () => {
    const rows = 3;
    const vocab = 7;
    const logits = Float64Array.from(randomArray(rows * vocab, 77, -3, 3));
    const labels = [1, -1, 6];
    const o = { rows, vocab, weight: 0.5, scale: 2.5 };
    const total = (x: ArrayLike<number>) => sumRowsRef(crossEntropyRef(x, labels, o).loss);
    const { dLogits } = crossEntropyRef(logits, labels, o);
    const h = 1e-6;
    const fd = new Float64Array(logits.length);
    for (let i = 0; i < logits.length; i++) {
      const x = Float64Array.from(logits);
      x[i] += h;
      const up = total(x);
      x[i] -= 2 * h;
      fd[i] = (up - total(x)) / (2 * h);
    }
    // central differences: truncation ~h^2 * f''' ~ 1e-12, rounding ~eps * |f| / h ~ 1e-9
    assertClose(dLogits, fd, { atol: 1e-8, rtol: 1e-6 });
  });
});
