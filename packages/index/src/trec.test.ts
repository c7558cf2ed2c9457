import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Run } from './metrics.ts';
import { evalRun, formatTrecRun, parseAnyQrels, parseTrecQrels, parseTrecRun } from './trec.ts';
import { evalRunFiles, writeTrecRun } from './trec-node.ts';

describe('TREC runs', () => {
  it('parses runs, skipping comments and blank lines, and ignores the rank column', () => {
    const run = parseTrecRun(
      '# comment\nq1 Q0 d1 1 0.5 t\n\nq1 Q0 d2 9 1.5e0 t extra\r\nq2\tQ0\td1\t3\t-2\tt\n',
    );
    expect(run).toEqual(
      new Map([
        [
          'q1',
          new Map([
            ['d1', 0.5],
            ['d2', 1.5],
          ]),
        ],
        ['q2', new Map([['d1', -2]])],
      ]),
    );
  });

  it('names the file and line of a malformed run line', () => {
    expect(() => parseTrecRun('q1 Q0 d1 1 0.5 t\nq1 Q0 d2 2 0.4\n', 'my.run')).toThrow(
      'my.run line 2 must have six fields: qid, Q0, docid, rank, score and tag.',
    );
    expect(() => parseTrecRun('q1 Q0 d1 1 high t\n', 'my.run')).toThrow(
      'my.run line 1 has a score "high" that is not a number.',
    );
    expect(() => parseTrecRun('q1 Q0 d1 1 1 t\nq1 Q0 d1 2 0 t\n', 'my.run')).toThrow(
      'my.run line 2 lists document "d1" for query "q1" twice.',
    );
  });

  it('writes runs in ranking order with fresh ranks, and reads them back', () => {
    const run: Run = new Map([
      [
        'q1',
        new Map([
          ['a', 0.5],
          ['b', 0.5],
          ['c', 2],
        ]),
      ],
    ]);
    const text = formatTrecRun(run, { tag: 'bm25' });
    expect(text).toBe('q1 Q0 c 1 2 bm25\nq1 Q0 b 2 0.5 bm25\nq1 Q0 a 3 0.5 bm25\n');
    expect(parseTrecRun(text)).toEqual(run);
    expect(formatTrecRun(run, { depth: 1 })).toBe('q1 Q0 c 1 2 llara\n');
    const third = 1 / 3;
    expect(
      parseTrecRun(formatTrecRun(new Map([['q', new Map([['d', third]])]])))
        .get('q')
        ?.get('d'),
    ).toBe(third);
    expect(() => formatTrecRun(new Map([['q 1', new Map([['d', 1]])]]))).toThrow(
      'Cannot write a TREC run: query id "q 1" is empty or has whitespace.',
    );
  });
});

describe('qrels and evalRun', () => {
  it('reads TREC and BEIR qrels', () => {
    const trec = parseTrecQrels('q1 0 d1 2\nq1 0 d2 0\n');
    const beir = parseAnyQrels('query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\n');
    expect(beir).toEqual(trec);
    expect(parseAnyQrels('q1 0 d1 2\nq1 0 d2 0\n')).toEqual(trec);
    expect(() => parseTrecQrels('q1 0 d1\n', 'x.qrels')).toThrow(
      'x.qrels line 1 must have four fields: qid, iter, docid and grade.',
    );
  });

  it('evaluates run text against qrels text', () => {
    // q1: d2 (grade 1) ranks 2nd by score although its rank column says 1: MRR@10 = 1/2
    const e = evalRun('q1 0 d2 1\n', 'q1 Q0 d2 1 0.1 t\nq1 Q0 d1 2 0.9 t\n', { ks: [10] });
    expect(e.metrics['mrr@10']).toBe(0.5);
    // nDCG@10 = (1/log2(3)) / 1 = 0.6309297536
    expect(e.metrics['ndcg@10']).toBeCloseTo(0.6309297536, 9);
  });
});

describe('TREC files (Node)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'trec-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('writes a run file atomically and evaluates files with their paths in errors', async () => {
    const runPath = join(tmp, 'a.run');
    await writeTrecRun(runPath, new Map([['q1', new Map([['d1', 1]])]]));
    expect(readFileSync(runPath, 'utf8')).toBe('q1 Q0 d1 1 1 llara\n');
    const qrelsPath = join(tmp, 'q.tsv');
    writeFileSync(qrelsPath, 'query-id\tcorpus-id\tscore\nq1\td1\t1\n');
    expect((await evalRunFiles(qrelsPath, runPath, { ks: [1] })).metrics['ndcg@1']).toBe(1);
    await expect(evalRunFiles(join(tmp, 'none.tsv'), runPath)).rejects.toThrow(
      `Qrels file ${join(tmp, 'none.tsv')} does not exist.`,
    );
    writeFileSync(runPath, 'q1 Q0 d1 1 x t\n');
    await expect(evalRunFiles(qrelsPath, runPath)).rejects.toThrow(
      `${runPath} line 1 has a score "x" that is not a number.`,
    );
  });
});
