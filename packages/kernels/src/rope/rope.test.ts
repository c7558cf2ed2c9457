import { readFileSync } from 'node:fs';
import { assertClose, randomArray, seededRandom } from '@llara/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { centralGradient, dot } from '../elementwise/finite-difference.ts';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { ropeRef } from './rope.ref.ts';
import { type RopeOptions, rope, ropeBackward } from './rope.ts';

// Tolerances. The kernel's sin/cos are good to ~2 ulp (~1.2e-7 absolute) for angles below ~16k, and each
// output is two f32 products and a sum of values <= 1 in magnitude: atol 1e-6. HF's own float32 result
// (the fixture) differs from the f64 reference by its f32 cos/sin and products: atol 5e-7.
const GPU_TOL = { atol: 1e-6, rtol: 0 };
const HF_TOL = { atol: 5e-7, rtol: 0 };

interface Case {
  T: number;
  o: RopeOptions;
}
const CASES: Case[] = [
  { T: 3, o: { numHeads: 2, headDim: 8, theta: 10000 } },
  { T: 5, o: { numHeads: 3, headDim: 2, theta: 10000 } },
  { T: 7, o: { numHeads: 4, headDim: 64, theta: 500000 } },
  { T: 2, o: { numHeads: 2, headDim: 256, theta: 10000 } },
  { T: 9, o: { numHeads: 1, headDim: 128, theta: 10000, scaling: { kind: 'linear', factor: 2 } } },
];

function positionsFor(T: number, seed: number): Int32Array {
  const r = seededRandom(seed);
  // Position 0 and the largest ones a 16k-token batch can hold, the rest anywhere below.
  return Int32Array.from({ length: T }, (_, t) => (t === 0 ? 0 : t === 1 ? 16383 : Math.floor(r() * 16384)));
}

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

describe('rope reference', () => {
  it('matches HF transformers float32 outputs (fixture made by make-hf-fixture.py)', () => {
    const fixture = JSON.parse(readFileSync(new URL('./hf-fixture.json', import.meta.url), 'utf8')) as {
      cases: (RopeOptions & { factor: number | null; positions: number[]; x: number[]; out: number[] })[];
    };
    expect(fixture.cases.length).toBe(4);
    for (const c of fixture.cases) {
      const o: RopeOptions = { numHeads: c.numHeads, headDim: c.headDim, theta: c.theta };
      if (c.factor !== null) o.scaling = { kind: 'linear', factor: c.factor };
      assertClose(ropeRef(c.x, c.positions, o), c.out, HF_TOL, `hf ${JSON.stringify(o)}`);
    }
  });

  it('backward matches central differences of the forward', () => {
    const o: RopeOptions = { numHeads: 2, headDim: 6, theta: 10000 };
    const positions = [3, 40, 1000];
    const x = randomArray(3 * 12, 1);
    const dy = randomArray(3 * 12, 2);
    const fd = centralGradient((v) => dot(dy, ropeRef(v, positions, o)), x);
    // The forward is linear in x, so central differences are exact up to f64 rounding (~1e-10).
    assertClose(ropeRef(dy, positions, o, true), fd, { atol: 1e-9, rtol: 0 }, 'fd');
  });
});

describe('rope on the GPU', () => {
  it('forward and backward match the reference (head dims 2..256, linear scaling, both devices)', async () => {
    for (const { name, gpu } of gpus) {
      for (const [k, { T, o }] of CASES.entries()) {
        const n = T * o.numHeads * o.headDim;
        const x = randomArray(n, 10 + k);
        const g = randomArray(n, 20 + k);
        const positions = positionsFor(T, k);
        const xt = gpu.tensor('f32', [T, o.numHeads * o.headDim], x);
        const gt = gpu.tensor('f32', [T, o.numHeads * o.headDim], g);
        const pt = gpu.tensor('i32', [T], positions);
        const rec = gpu.recorder();
        rope(rec, xt, pt, o);
        ropeBackward(rec, gt, pt, o);
        rec.submit();
        const what = `${name} T=${T} ${JSON.stringify(o)}`;
        assertClose(await gpu.read(xt), ropeRef(x, positions, o), GPU_TOL, `rope ${what}`);
        assertClose(await gpu.read(gt), ropeRef(g, positions, o, true), GPU_TOL, `rope backward ${what}`);
        for (const t of [xt, gt, pt]) t.release();
      }
    }
  });

  it('lets NaN and Inf through without touching other pairs', async () => {
    const o: RopeOptions = { numHeads: 1, headDim: 4, theta: 10000 };
    const x = new Float32Array([Number.NaN, 0.5, 0.25, -1, 1, 2, 3, Number.POSITIVE_INFINITY]);
    const positions = new Int32Array([0, 5]);
    const ref = ropeRef(x, positions, o);
    for (const { name, gpu } of gpus) {
      const xt = gpu.tensor('f32', [2, 4], x);
      const pt = gpu.tensor('i32', [2], positions);
      const rec = gpu.recorder();
      rope(rec, xt, pt, o);
      rec.submit();
      assertClose(await gpu.read(xt), ref, GPU_TOL, `non-finite ${name}`);
    }
  });

  it('refuses unsupported options and mismatched tensors with one sentence', () => {
    const { gpu } = gpus[0];
    const rec = gpu.recorder();
    const x = gpu.tensor('f32', [3, 16]);
    const pos = gpu.tensor('i32', [3]);
    expect(() => rope(rec, x, pos, { numHeads: 2, headDim: 7, theta: 1e4 })).toThrow(
      /head dimension 7 is not supported/,
    );
    expect(() => rope(rec, x, pos, { numHeads: 1, headDim: 512, theta: 1e4 })).toThrow(/head dimension 512/);
    expect(() =>
      rope(rec, x, pos, { numHeads: 2, headDim: 8, theta: 1e4, scaling: { kind: 'yarn', factor: 4 } }),
    ).toThrow('RoPE scaling "yarn" is not supported (only "linear" is).');
    expect(() => rope(rec, x, pos, { numHeads: 5, headDim: 8, theta: 1e4 })).toThrow(
      /not a whole number of tokens/,
    );
    expect(() => rope(rec, x, gpu.tensor('i32', [2]), { numHeads: 2, headDim: 8, theta: 1e4 })).toThrow(
      /positions tensor must have 3 elements/,
    );
    expect(rec.pending).toBe(0);
  });
});
