import { assertClose, randomArray } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { l2NormalizeRef } from '../l2-normalize/l2-normalize.ref.ts';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { infoNceRef } from './infonce.ref.ts';
import { infoNce, infoNceLabels } from './infonce.ts';
import { stridedMatmulRef } from './scores.ref.ts';
import { stridedMatmul } from './scores.ts';

// Tolerances. Embeddings are unit rows, as training feeds them. A score is an f32 dot product of `dim`
// terms accumulated in one invocation: error ~ sqrt(dim) * 2^-24 typically (<= dim * 2^-24 = 2.4e-4
// worst case at dim 4096, never approached by random data); 1/tau <= 100 magnifies it in the logits.
// The per-query loss (weighted 1/queries) gets atol 1e-4 / queries + rtol 1e-5 (measured: 6e-7 at
// 4 queries, dim 4096, tau 0.01). dS entries are bounded by (1/tau) / queries and carry ~1e-6 of that
// bound in error; dq and dp multiply them by unit-row entries, so atol 2e-6 / tau / queries (2.5e-5 at
// the shape above, measured 9e-7) with rtol 1e-4. The plain matmul alone: atol 1e-5 (|entries| <= 1,
// k <= 40), rtol 1e-5.
const mmTol = { atol: 1e-5, rtol: 1e-5 };

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

function unitRows(rows: number, dim: number, seed: number): Float32Array {
  return Float32Array.from(l2NormalizeRef(randomArray(rows * dim, seed), { rows, dim }));
}

describe('stridedMatmul', () => {
  it('matches the f64 reference for every transpose, off the 16x16 tile', async () => {
    const [m, n, k] = [17, 33, 20];
    const a = randomArray(m * k, 1);
    const b = randomArray(k * n, 2);
    const layouts: { aStrides: [number, number]; bStrides: [number, number] }[] = [
      { aStrides: [k, 1], bStrides: [n, 1] }, // A B
      { aStrides: [1, m], bStrides: [n, 1] }, // A^T B (a stored [k, m])
      { aStrides: [k, 1], bStrides: [1, k] }, // A B^T (b stored [n, k])
      { aStrides: [1, m], bStrides: [1, k] }, // A^T B^T
    ];
    for (const { gpu, name } of gpus) {
      const at = gpu.tensor('f32', [a.length], a);
      const bt = gpu.tensor('f32', [b.length], b);
      for (const l of layouts) {
        const o = { m, n, k, ...l, alpha: -0.5 };
        const ct = gpu.tensor('f32', [m, n]);
        const rec = gpu.recorder();
        stridedMatmul(rec, at, bt, ct, o);
        rec.submit();
        assertClose(
          (await gpu.read(ct)) as Float32Array,
          stridedMatmulRef(a, b, o),
          mmTol,
          `${name} ${l.aStrides}`,
        );
        ct.release();
      }
      at.release();
      bt.release();
    }
  });
});

describe('infoNce', () => {
  const cases = [
    { queries: 3, group: 4, dim: 7, tau: 0.05 },
    { queries: 4, group: 8, dim: 64, tau: 0.02 },
    { queries: 2, group: 3, dim: 4096, tau: 0.01 },
    { queries: 17, group: 2, dim: 33, tau: 1 },
  ];
  for (const c of cases) {
    it(`matches the f64 reference (queries ${c.queries}, group ${c.group}, dim ${c.dim}, tau ${c.tau})`, async () => {
      const o = { queries: c.queries, passages: c.queries * c.group, dim: c.dim, tau: c.tau };
      const q = unitRows(o.queries, o.dim, c.dim);
      const p = unitRows(o.passages, o.dim, c.dim + 1);
      const labels = infoNceLabels(o.queries, c.group);
      const ref = infoNceRef(q, p, labels, o);
      const lossTol = { atol: 1e-4 / o.queries, rtol: 1e-5 };
      const gradTol = { atol: 2e-6 / c.tau / o.queries, rtol: 1e-4 };
      for (const { gpu, name } of gpus) {
        const qt = gpu.tensor('f32', [o.queries, o.dim], q);
        const pt = gpu.tensor('f32', [o.passages, o.dim], p);
        const lt = gpu.tensor('i32', [o.queries], labels);
        const loss = gpu.tensor('f32', [o.queries]);
        const dq = gpu.tensor('f32', [o.queries, o.dim]);
        const dp = gpu.tensor('f32', [o.passages, o.dim]);
        const rec = gpu.recorder();
        infoNce(rec, qt, pt, lt, loss, dq, dp, o);
        rec.submit();
        assertClose((await gpu.read(loss)) as Float32Array, ref.loss, lossTol, `${name} loss`);
        assertClose((await gpu.read(dq)) as Float32Array, ref.dq, gradTol, `${name} dq`);
        assertClose((await gpu.read(dp)) as Float32Array, ref.dp, gradTol, `${name} dp`);
        for (const z of [qt, pt, lt, loss, dq, dp]) z.release();
      }
    });
  }

  it('lays out labels for groups with the positive first', () => {
    expect(Array.from(infoNceLabels(3, 8))).toEqual([0, 8, 16]);
  });
});

describe('infoNceRef', () => {
  it('gives the gradients that central finite differences give', () => {
    const o = { queries: 2, passages: 6, dim: 3, tau: 0.5 };
    const q = Float64Array.from(randomArray(6, 51));
    const p = Float64Array.from(randomArray(18, 52));
    const labels = [0, 3];
    const total = (qq: ArrayLike<number>, pp: ArrayLike<number>) =>
      infoNceRef(qq, pp, labels, o).loss.reduce((s, v) => s + v, 0);
    const { dq, dp } = infoNceRef(q, p, labels, o);
    const h = 1e-6;
    const fdq = q.map((_, i) => {
      const x = Float64Array.from(q);
      x[i] += h;
      const up = total(x, p);
      x[i] -= 2 * h;
      return (up - total(x, p)) / (2 * h);
    });
    const fdp = p.map((_, i) => {
      const x = Float64Array.from(p);
      x[i] += h;
      const up = total(q, x);
      x[i] -= 2 * h;
      return (up - total(q, x)) / (2 * h);
    });
    assertClose(dq, fdq, { atol: 1e-8, rtol: 1e-6 }, 'dq');
    assertClose(dp, fdp, { atol: 1e-8, rtol: 1e-6 }, 'dp');
  });
});
