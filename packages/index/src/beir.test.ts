import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { documentText, parseCorpus, parseQrels, parseQueries } from './beir.ts';
import { loadBeir } from './beir-node.ts';

const CRANFIELD = fileURLToPath(new URL('../../../data/cranfield', import.meta.url));

describe('BEIR parsing from strings', () => {
  it('parses corpus, queries and qrels, with CRLF and blank lines', () => {
    const corpus = parseCorpus('{"_id":"d1","title":"T","text":"a b"}\r\n\r\n{"_id":7,"text":"c"}\n');
    expect(corpus).toEqual([
      { id: 'd1', title: 'T', text: 'a b' },
      { id: '7', title: '', text: 'c' },
    ]);
    expect(documentText(corpus[0])).toBe('T a b');
    expect(documentText(corpus[1])).toBe('c');
    expect(parseQueries('{"_id":"q1","text":"what"}')).toEqual([{ id: 'q1', text: 'what' }]);
    const qrels = parseQrels('query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\nq2\td1\t-1\n');
    expect([...qrels.keys()]).toEqual(['q1', 'q2']);
    expect(qrels.get('q1')?.get('d1')).toBe(2);
    expect(qrels.get('q1')?.get('d2')).toBe(0);
    expect(qrels.get('q2')?.get('d1')).toBe(-1);
  });

  it('names the file and line of a malformed line', () => {
    expect(() => parseCorpus('{"_id":"d1","text":"x"}\n{"_id":"d2",', 'c.jsonl')).toThrow(
      /^c\.jsonl line 2 is not valid JSON/,
    );
    expect(() => parseCorpus('{"_id":"d1"}', 'c.jsonl')).toThrow('c.jsonl line 1 has no "text" field.');
    expect(() => parseCorpus('[1]', 'c.jsonl')).toThrow('c.jsonl line 1 is not a JSON object.');
    expect(() => parseQueries('{"text":"x"}', 'q.jsonl')).toThrow('q.jsonl line 1 has no "_id" string.');
    expect(() => parseQueries('{"_id":"a","text":1}', 'q.jsonl')).toThrow(
      'q.jsonl line 1 has a "text" that is not a string.',
    );
    expect(() => parseCorpus('{"_id":"a","text":""}\n{"_id":"a","text":""}', 'c.jsonl')).toThrow(
      'c.jsonl line 2 repeats the id "a".',
    );
    expect(() => parseQrels('q\td\ts\n', 'r.tsv')).toThrow(/^r\.tsv line 1 must be the header/);
    expect(() => parseQrels('query-id\tcorpus-id\tscore\nq1 d1 1\n', 'r.tsv')).toThrow(
      'r.tsv line 2 must have three tab-separated fields: query-id, corpus-id and score.',
    );
    expect(() => parseQrels('query-id\tcorpus-id\tscore\nq1\td1\t1.5\n', 'r.tsv')).toThrow(
      'r.tsv line 2 has a score "1.5" that is not an integer.',
    );
    expect(() => parseQrels('query-id\tcorpus-id\tscore\nq1\td1\t1\n\nq1\td1\t2', 'r.tsv')).toThrow(
      'r.tsv line 4 judges query "q1" and document "d1" a second time.',
    );
    expect(() => parseQrels('\n', 'r.tsv')).toThrow('r.tsv is empty: it has no header line.');
  });
});

describe('loadBeir (Node)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'beir-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('loads the bundled Cranfield collection with the counts its README gives', async () => {
    const { corpus, queries, qrels } = await loadBeir(CRANFIELD);
    expect(corpus.length).toBe(1400);
    expect(queries.length).toBe(225);
    expect(qrels.size).toBe(225);
    let pairs = 0;
    for (const docs of qrels.values()) pairs += docs.size;
    expect(pairs).toBe(1612);
    expect(corpus[470]).toEqual({ id: '471', title: '', text: '' });
    expect([...(qrels.get('1')?.keys() ?? [])].slice(0, 3)).toEqual(['184', '29', '31']);
  });

  it('reports a missing folder or file and a bad line with the full path', async () => {
    await expect(loadBeir(join(tmp, 'nope'))).rejects.toThrow(/^BEIR folder .*nope does not exist/);
    const dir = join(tmp, 'ds');
    mkdirSync(join(dir, 'qrels'), { recursive: true });
    writeFileSync(join(dir, 'corpus.jsonl'), '{"_id":"d1","text":"x"}\n');
    writeFileSync(join(dir, 'queries.jsonl'), '{"_id":"q1","text":"x"}\n');
    await expect(loadBeir(dir)).rejects.toThrow(
      `Qrels file ${join(dir, 'qrels', 'test.tsv')} does not exist`,
    );
    writeFileSync(join(dir, 'qrels', 'dev.tsv'), 'query-id\tcorpus-id\tscore\nq1\td1\t1\n');
    expect((await loadBeir(dir, 'dev')).qrels.get('q1')?.get('d1')).toBe(1);
    writeFileSync(join(dir, 'corpus.jsonl'), '{"_id":"d1","text":"x"}\n{oops}\n');
    await expect(loadBeir(dir, 'dev')).rejects.toThrow(
      new RegExp(`^${join(dir, 'corpus.jsonl')} line 2 is not valid JSON`),
    );
  });
});
