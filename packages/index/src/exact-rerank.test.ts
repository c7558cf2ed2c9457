import { f16BitsToF32, f32ToF16Bits, randomArray, seededRandom } from '@llara/gpu';
import { describe, expect, it } from 'vitest';
import { type CandidateList, innerProductErrorBound, mergeCandidates } from './exact-rerank.ts';
import { dot, FlatIndex } from './flat-index.ts';

/** A scorer as a GPU might be: queries optionally rounded to f16, products summed in f32 in 8 strided lanes. */
function gpuLikeDot(q: Float32Array, v: Float32Array, roundQuery: boolean): number {
  const lanes = new Float32Array(8);
  for (let i = 0; i < q.length; i++) {
    const a = roundQuery ? f16BitsToF32(f32ToF16Bits(q[i])) : q[i];
    lanes[i % 8] = Math.fround(lanes[i % 8] + Math.fround(a * v[i]));
  }
  let s = 0;
  for (const x of lanes) s = Math.fround(s + x);
  return s;
}

const norm = (a: Float32Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));

function list(
  ids: string[],
  rows: Float32Array,
  query: Float32Array,
  approx: (r: number) => number,
  kk: number,
  eps: number,
): CandidateList {
  const d = query.length;
  // Best kk rows by approximate score, ties by row index: what the GPU top-k returns.
  const order = ids
    .map((_, r) => r)
    .sort((a, b) => approx(b) - approx(a) || a - b)
    .slice(0, kk);
  return {
    length: order.length,
    approx: (j) => approx(order[j]),
    exact: (j) => dot(query, 0, rows, order[j] * d, d),
    id: (j) => ids[order[j]],
    eps,
    settled: kk >= ids.length,
  };
}

describe('innerProductErrorBound', () => {
  it('bounds f32 accumulation and f16-rounded queries, with values over many magnitudes', () => {
    const rand = seededRandom(3);
    for (const d of [1, 7, 64, 4096]) {
      for (let t = 0; t < 20; t++) {
        const q = randomArray(d, 100 + t, -1, 1).map((x) => x * 2 ** Math.floor(rand() * 20 - 10));
        const v = randomArray(d, 200 + t, -1, 1).map((x) => x * 2 ** Math.floor(rand() * 20 - 10));
        for (const roundQuery of [false, true]) {
          const err = Math.abs(gpuLikeDot(q, v, roundQuery) - dot(q, 0, v, 0, d));
          const eps = innerProductErrorBound(d, norm(q), norm(v), { queryRoundedToF16: roundQuery });
          expect(err).toBeLessThanOrEqual(eps);
        }
      }
    }
  });
});

describe('mergeCandidates', () => {
  const d = 16;
  const n = 200;
  const ids = Array.from({ length: n }, (_, i) => `doc${(i * 71) % n}`);
  const rows = randomArray(n * d, 9, -1, 1);
  // Ten copies of row 0: exact ties that straddle any small cut.
  for (let r = 1; r <= 10; r++) rows.copyWithin(r * d, 0, d);
  const query = rows.slice(0, d);
  const flat = new FlatIndex(d);
  flat.add(ids, rows);
  const maxNorm = Math.max(...ids.map((_, r) => norm(rows.subarray(r * d, r * d + d))));
  const eps = innerProductErrorBound(d, norm(query), maxNorm);
  // The worst an approximate scorer may do within the bound: push every score by up to eps either way.
  const wobble = seededRandom(4);
  const noise = ids.map(() => (wobble() * 2 - 1) * eps);
  const approx = (r: number) => dot(query, 0, rows, r * d, d) + noise[r];

  it('equals the exact top k once settled, and flags lists cut inside a tie', () => {
    const k = 5;
    const tight = mergeCandidates([list(ids, rows, query, approx, 6, eps)], k);
    expect(tight.unsettled).toEqual([0]);
    const wide = mergeCandidates([list(ids, rows, query, approx, 40, eps)], k);
    expect(wide.unsettled).toEqual([]);
    expect(wide.hits).toEqual(flat.searchSync(query, k)[0]);
  });

  it('merges several sources, settled or not', () => {
    const halves = [0, 1].map((h) => {
      const part = ids.map((_, r) => r).filter((r) => r % 2 === h);
      const sub = new Float32Array(part.length * d);
      for (const [i, r] of part.entries()) sub.set(rows.subarray(r * d, r * d + d), i * d);
      return list(
        part.map((r) => ids[r]),
        sub,
        query,
        (i) => approx(part[i]),
        h === 0 ? part.length : 30,
        eps,
      );
    });
    const merged = mergeCandidates(halves, 12);
    expect(merged.unsettled).toEqual([]);
    expect(merged.hits).toEqual(flat.searchSync(query, 12)[0]);
  });
});
