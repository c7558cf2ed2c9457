import { describe, expect, it } from 'vitest';
import type { Qrels } from './beir.ts';
import { evaluate, formatEvaluation, idealDcg, type Run } from './metrics.ts';
import { compareIds, rankDocuments } from './ranking.ts';

const qrels: Qrels = new Map([
  // positives d1 (3), d4 (2), d2 (1); d3 judged not relevant
  [
    'q1',
    new Map([
      ['d1', 3],
      ['d2', 1],
      ['d3', 0],
      ['d4', 2],
    ]),
  ],
  // no positive judgement: skipped
  ['q2', new Map([['d9', 0]])],
  // judged but absent from the run: counts 0
  ['q3', new Map([['d5', 1]])],
]);

// Ranking of q1 (score desc, ties by id desc): d3 0.9 | dX 0.8, d1 0.8 ('X' > '1') | dY 0.5, d2 0.5 | d4 0.1
// ranks: 1 d3 (0), 2 dX (-), 3 d1 (3), 4 dY (-), 5 d2 (1), 6 d4 (2).
const run: Run = new Map([
  [
    'q1',
    new Map([
      ['d4', 0.1],
      ['d2', 0.5],
      ['d1', 0.8],
      ['d3', 0.9],
      ['dY', 0.5],
      ['dX', 0.8],
    ]),
  ],
  ['q9', new Map([['d1', 1]])], // not judged: ignored
]);

describe('ranking rule', () => {
  it('orders by score desc, then id desc as strcmp does, after float32 rounding', () => {
    expect(rankDocuments(run.get('q1')!)).toEqual(['d3', 'dX', 'd1', 'dY', 'd2', 'd4']);
    // 0.1 + 0.2 and 0.3 differ as doubles but are the same float32: they tie, so 'b' > 'a' goes first.
    expect(
      rankDocuments(
        new Map([
          ['a', 0.1 + 0.2],
          ['b', 0.3],
        ]),
      ),
    ).toEqual(['b', 'a']);
    expect(
      rankDocuments(
        new Map([
          ['a', 0.31],
          ['b', 0.3],
        ]),
      ),
    ).toEqual(['a', 'b']);
    // Byte order: "10" < "9" (strcmp), so among ties "9" ranks first.
    expect(
      rankDocuments(
        new Map([
          ['10', 1],
          ['9', 1],
        ]),
      ),
    ).toEqual(['9', '10']);
    // Astral characters (4-byte UTF-8) sort after U+FFxx, unlike UTF-16 code unit order.
    expect(compareIds('\u{1F600}', '\uFF01')).toBeGreaterThan(0);
    expect(compareIds('ab', 'a')).toBeGreaterThan(0);
    expect(compareIds('a', 'a')).toBe(0);
  });
});

describe('evaluate', () => {
  it('matches hand-computed trec_eval values', () => {
    const e = evaluate(qrels, run, { ks: [1, 5, 10], perQuery: true });
    expect(e.queries).toBe(2); // q1, q3 (q2 has no positive judgement)
    const q1 = e.perQuery!.get('q1')!;
    // @1: rank 1 is d3 (grade 0) -> all zero.
    expect(q1['ndcg@1']).toBe(0);
    expect(q1['mrr@1']).toBe(0);
    expect(q1['recall@1']).toBe(0);
    // @5: DCG = 3/log2(4) + 1/log2(6) = 1.5 + 0.386852807 = 1.886852807
    //     IDCG = 3/log2(2) + 2/log2(3) + 1/log2(4) = 3 + 1.261859507 + 0.5 = 4.761859507
    //     nDCG = 0.396242855; MRR = 1/3 (d1 at rank 3); recall = 2/3 (d1, d2 of d1, d2, d4)
    expect(q1['ndcg@5']).toBeCloseTo(0.3962428552, 9);
    expect(q1['mrr@5']).toBeCloseTo(1 / 3, 12);
    expect(q1['recall@5']).toBeCloseTo(2 / 3, 12);
    // @10: DCG adds d4 at rank 6: 1.886852807 + 2/log2(7) = 2.599267181; / 4.761859507 = 0.545851296
    expect(q1['ndcg@10']).toBeCloseTo(0.5458512956, 9);
    expect(q1['recall@10']).toBe(1);
    // AP: relevant at ranks 3, 5, 6 -> (1/3 + 2/5 + 3/6) / 3 = 0.411111111
    expect(q1.map).toBeCloseTo(0.4111111111, 9);
    expect(e.perQuery!.get('q3')).toEqual({
      'ndcg@1': 0,
      'mrr@1': 0,
      'recall@1': 0,
      'ndcg@5': 0,
      'mrr@5': 0,
      'recall@5': 0,
      'ndcg@10': 0,
      'mrr@10': 0,
      'recall@10': 0,
      map: 0,
    });
    // Means over q1 and q3 (q3 counts 0).
    expect(e.metrics['ndcg@5']).toBeCloseTo(0.3962428552 / 2, 9);
    expect(e.metrics['mrr@5']).toBeCloseTo(1 / 6, 12);
    expect(e.metrics.map).toBeCloseTo(0.4111111111 / 2, 9);
    expect(Object.keys(e.metrics)).toEqual([
      'ndcg@1',
      'ndcg@5',
      'ndcg@10',
      'mrr@1',
      'mrr@5',
      'mrr@10',
      'recall@1',
      'recall@5',
      'recall@10',
      'map',
    ]);
  });

  it('lets a run that answers q3 score better than one that skips it', () => {
    const withQ3: Run = new Map([
      ...run,
      [
        'q3',
        new Map([
          ['d5', 0.1],
          ['d6', 0.2],
        ]),
      ],
    ]);
    const e = evaluate(qrels, withQ3, { ks: [10] });
    // q3: d5 at rank 2 -> nDCG = (1/log2(3)) / 1 = 0.630929754, MRR = 0.5, AP = 1/2
    expect(e.perQuery).toBeUndefined();
    expect(e.metrics['ndcg@10']).toBeCloseTo((0.5458512956 + 0.6309297536) / 2, 9);
    expect(e.metrics['mrr@10']).toBeCloseTo((1 / 3 + 0.5) / 2, 12);
    expect(e.metrics.map).toBeCloseTo((0.4111111111 + 0.5) / 2, 9);
  });

  it('uses the ideal ranking of the positive grades only', () => {
    // grades 1, 3, -1, 2 -> ideal order 3, 2, 1: 3 + 2/log2(3) + 1/log2(4) = 4.761859507
    expect(idealDcg([1, 3, -1, 2], 10)).toBeCloseTo(4.7618595071, 9);
    expect(idealDcg([1, 3, -1, 2], 1)).toBe(3);
    expect(idealDcg([0, -1], 10)).toBe(0);
  });

  it('rejects bad cutoffs and NaN scores, and formats like trec_eval', () => {
    expect(() => evaluate(qrels, run, { ks: [0] })).toThrow('Metric cutoff 0 is not a positive integer.');
    expect(() => evaluate(qrels, run, { ks: [5, 5] })).toThrow('Metric cutoffs 5, 5 repeat a value.');
    const bad: Run = new Map([['q1', new Map([['d1', Number.NaN]])]]);
    expect(() => evaluate(qrels, bad)).toThrow('The run\'s score for query "q1" and document "d1" is NaN.');
    const text = formatEvaluation(evaluate(qrels, run, { ks: [5] }));
    expect(text).toBe(
      'ndcg@5\tall\t0.1981\nmrr@5\tall\t0.1667\nrecall@5\tall\t0.3333\nmap\tall\t0.2056\nnum_q\tall\t2\n',
    );
  });
});
