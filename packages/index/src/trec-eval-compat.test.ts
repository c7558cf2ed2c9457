// Cross-checks evaluate() against the real trec_eval 9.0.8 on a random fixture with exact and float32-only
// score ties, wrong rank columns, a judged query missing from the run and an unjudged run query
// (fixtures/trec-eval/make_fixture.py wrote the files and trec_eval's output).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { evaluate } from './metrics.ts';
import { parseTrecQrels, parseTrecRun } from './trec.ts';

const dir = new URL('./fixtures/trec-eval/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir), 'utf8');

/** trec_eval -q output -> measure -> qid (or 'all') -> value. */
function parseTrecEvalOutput(text: string): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const line of text.trim().split('\n')) {
    const [measure, qid, value] = line.split(/\s+/);
    if (!out.has(measure)) out.set(measure, new Map());
    out.get(measure)!.set(qid, Number(value));
  }
  return out;
}

const NAMES: Record<string, string> = {
  ndcg_cut_5: 'ndcg@5',
  ndcg_cut_10: 'ndcg@10',
  recall_5: 'recall@5',
  recall_100: 'recall@100',
  map: 'map',
};

describe('evaluate agrees with trec_eval 9.0.8 (-c)', () => {
  const qrels = parseTrecQrels(read('qrels.txt'), 'qrels.txt');
  const run = parseTrecRun(read('run.txt'), 'run.txt');
  const ours = evaluate(qrels, run, { ks: [5, 10, 100], perQuery: true });

  it('per query and on average, to the 4 decimals trec_eval prints', () => {
    const expected = parseTrecEvalOutput(read('expected.txt'));
    expect(ours.queries).toBe(26);
    let checked = 0;
    for (const [measure, name] of Object.entries(NAMES)) {
      for (const [qid, value] of expected.get(measure)!) {
        const got = qid === 'all' ? ours.metrics[name] : ours.perQuery!.get(qid)![name];
        expect(Math.abs(got - value), `${measure} ${qid}: ${got} vs ${value}`).toBeLessThanOrEqual(0.00005);
        checked++;
      }
    }
    expect(checked).toBe(5 * (25 + 1)); // per measure: the 25 judged queries in the run, then "all"
  });

  it('MRR@10 equals recip_rank on the top 10 (trec_eval -M 10)', () => {
    const expected = parseTrecEvalOutput(read('expected-m10.txt')).get('recip_rank')!;
    for (const [qid, value] of expected) {
      const got = qid === 'all' ? ours.metrics['mrr@10'] : ours.perQuery!.get(qid)!['mrr@10'];
      expect(Math.abs(got - value), `recip_rank ${qid}`).toBeLessThanOrEqual(0.00005);
    }
  });
});
