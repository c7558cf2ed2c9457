import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { analyze, LUCENE_STOP_WORDS } from './analyzer.ts';
import { loadBeir } from './beir-node.ts';
import { Bm25Index } from './bm25.ts';
import { evaluate } from './metrics.ts';

const CRANFIELD = fileURLToPath(new URL('../../../data/cranfield', import.meta.url));

describe('analyzer', () => {
  it('lower-cases, splits on non-alphanumerics and underscores, drops the 33 Lucene stop words', () => {
    expect(LUCENE_STOP_WORDS.size).toBe(33);
    expect(analyze("The Boundary-layer of prandtl's snake_case Été 2nd .")).toEqual([
      'boundary',
      'layer',
      'prandtl',
      's',
      'snake',
      'case',
      'été',
      '2nd',
    ]);
    expect(analyze('to be or not', new Set())).toEqual(['to', 'be', 'or', 'not']);
  });
});

describe('BM25', () => {
  it('scores a tiny corpus as the formula says', () => {
    const bm25 = new Bm25Index({ k1: 0.9, b: 0.4 });
    bm25.add('d1', 'heat heat flow'); // |d| = 3
    bm25.add('d2', 'flow'); // |d| = 1
    bm25.add('d3', 'wing'); // |d| = 1; avgdl = 5/3
    // idf(heat) = ln(1 + (3 - 1 + 0.5)/(1 + 0.5)) = ln(8/3) = 0.980829253
    // d1: tf 2, norm 1 - 0.4 + 0.4*3/(5/3) = 1.32 -> 0.980829253 * 2*1.9 / (2 + 0.9*1.32) = 1.169135...
    const idfHeat = Math.log(8 / 3);
    const d1 = (idfHeat * 2 * 1.9) / (2 + 0.9 * 1.32);
    expect(bm25.idf('heat')).toBeCloseTo(idfHeat, 12);
    const hits = bm25.search('heat');
    expect(hits).toHaveLength(1); // only documents sharing a term
    expect(hits[0].id).toBe('d1');
    expect(hits[0].score).toBeCloseTo(d1, 12);
    // Repeated query tokens count twice.
    expect(bm25.search('heat heat')[0].score).toBeCloseTo(2 * d1, 12);
    // 'flow wing': d3 has the rarer term (idf ln(8/3) > ln(1.6)); d2 beats d1 by being shorter; k = 2 cuts d1.
    expect(bm25.search('flow wing', 2).map((h) => h.id)).toEqual(['d3', 'd2']);
    expect(bm25.search('flow wing').map((h) => h.id)).toEqual(['d3', 'd2', 'd1']);
    // Equal scores fall back to id descending.
    const ties = new Bm25Index();
    for (const id of ['a', 'c', 'b']) ties.add(id, 'same words');
    expect(ties.search('words').map((h) => h.id)).toEqual(['c', 'b', 'a']);
  });

  // The README gives 4 decimals; our run reproduces them, so allow only rounding (the brief asked for 0.005).
  const expectRow = (m: Record<string, number>, row: number[]) => {
    const got = [m['ndcg@10'], m['mrr@10'], m['recall@100'], m.map];
    for (const [i, v] of got.entries()) {
      expect(Math.abs(v - row[i]), `column ${i}: ${v} vs ${row[i]}`).toBeLessThanOrEqual(0.0001);
    }
  };

  it('reproduces the Cranfield README baseline rows (with and without stop words)', async () => {
    const { corpus, queries, qrels } = await loadBeir(CRANFIELD);
    const run = Bm25Index.fromBeir(corpus).run(queries, 1000);
    let retrieved = 0;
    for (const docs of run.values()) retrieved += docs.size;
    expect(Math.round(retrieved / queries.length)).toBe(794); // "794 per query on average"
    const e = evaluate(qrels, run, { ks: [10, 100] });
    expect(e.queries).toBe(225);
    expectRow(e.metrics, [0.3311, 0.4903, 0.6874, 0.2664]);
    const noStop = Bm25Index.fromBeir(corpus, { stopWords: new Set() }).run(queries, 1000);
    expectRow(evaluate(qrels, noStop, { ks: [10, 100] }).metrics, [0.3276, 0.4891, 0.6848, 0.2642]);
  });
});
