import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  beirToPretrainRows,
  chunksToPretrainRows,
  chunkText,
  EpochSampler,
  formatPretrainJsonl,
  groupRng,
  parseBeirCorpus,
  parseFinetuneJsonl,
  parsePretrainJsonl,
  Rng,
  sampleGroup,
  splitSentences,
} from './data.ts';
import { NLTK_ENGLISH_STOPWORDS, removeStopWords, STOPWORDS } from './stopwords.ts';
import { testTokenizer } from './test-tokenizer.ts';

const read = (p: string) => readFileSync(new URL(p, import.meta.url), 'utf8');
const corpus = parseBeirCorpus(read('../../../data/cranfield/corpus.jsonl'), 'corpus.jsonl');
const goldenData = read('../../../data/goldens/llara-flag-stories260K/data.jsonl');

describe('pretraining JSONL', () => {
  it('reads the released format and writes it back', () => {
    const rows = parsePretrainJsonl(goldenData, 'data.jsonl');
    expect(rows.length).toBe(1);
    expect(rows[0].input.startsWith('experimental investigation')).toBe(true);
    expect(parsePretrainJsonl(formatPretrainJsonl(rows))).toEqual(rows);
    const noSummary = parsePretrainJsonl('{"input": "a", "output_predict": "b"}\n\n');
    expect(noSummary).toEqual([{ input: 'a', outputPredict: 'b' }]);
  });

  it('names the file and line of a malformed row', () => {
    const ok = '{"input": "a", "output_predict": "b"}';
    expect(() => parsePretrainJsonl(`${ok}\n{"input": "a"`, 'x.jsonl')).toThrow(
      'x.jsonl line 2 is not valid JSON.',
    );
    expect(() => parsePretrainJsonl(`${ok}\n\n{"input": "a"}`, 'x.jsonl')).toThrow(
      'x.jsonl line 3 has no "output_predict" field.',
    );
    expect(() => parsePretrainJsonl('{"input": 3, "output_predict": "b"}', 'x.jsonl')).toThrow(
      'x.jsonl line 1 has a "input" that is not a string.',
    );
    expect(() => parsePretrainJsonl('[1]', 'x.jsonl')).toThrow('x.jsonl line 1 is not a JSON object.');
    expect(() => parsePretrainJsonl('\n', 'x.jsonl')).toThrow('x.jsonl has no rows.');
  });
});

describe('BEIR corpus to pretraining rows', () => {
  it('first-sentence mode reproduces the golden data.jsonl from Cranfield document 1', () => {
    const rows = beirToPretrainRows(corpus.slice(0, 1), 'first-sentence');
    expect(formatPretrainJsonl(rows)).toBe(
      // The golden file is Python's json.dumps with ", " and ": " separators.
      `${JSON.stringify(JSON.parse(goldenData.trim()))}\n`,
    );
  });

  it('consecutive mode chains documents in order', () => {
    const rows = beirToPretrainRows(corpus.slice(0, 3), 'consecutive');
    expect(rows.length).toBe(2);
    expect(rows[0].input).toBe(corpus[0].text); // Cranfield texts start with their title
    expect(rows[0].outputPredict).toBe(corpus[1].text);
    expect(rows[1].input).toBe(corpus[1].text);
    const titled = beirToPretrainRows(
      [
        { id: '1', title: 'Wings', text: 'They lift.' },
        { id: '2', title: '', text: 'Drag.' },
      ],
      'consecutive',
    );
    expect(titled).toEqual([{ input: 'Wings They lift.', outputPredict: 'Drag.' }]);
  });

  it('splits sentences and skips one-sentence documents', () => {
    expect(splitSentences('a b . c d! e? f')).toEqual(['a b .', 'c d!', 'e?', 'f']);
    const rows = beirToPretrainRows(
      [
        { id: '1', title: '', text: 'Only one sentence.' },
        { id: '2', title: 'T', text: 'First one. Then more. And more.' },
      ],
      'first-sentence',
    );
    expect(rows).toEqual([
      { input: 'T First one.', outputSummarize: 'T First one.', outputPredict: 'Then more. And more.' },
    ]);
  });

  it('names the corpus line with a missing id', () => {
    expect(() => parseBeirCorpus('{"title": "a", "text": "b"}', 'corpus.jsonl')).toThrow(
      'corpus.jsonl line 1 has no "_id" field.',
    );
  });
});

describe('raw text chunks', () => {
  const text = corpus
    .slice(0, 5)
    .map((d) => d.text)
    .join('\n\n');

  it('cuts by words', () => {
    const chunks = chunkText('a b  c\nd e f g', { by: 'words', size: 3 });
    expect(chunks).toEqual(['a b c', 'd e f', 'g']);
    expect(chunksToPretrainRows(chunks)).toEqual([
      { input: 'a b c', outputPredict: 'd e f' },
      { input: 'd e f', outputPredict: 'g' },
    ]);
  });

  it('cuts by tokens: every chunk fits, and would not fit one more word', () => {
    const tok = testTokenizer('llama2');
    const size = 48;
    const chunks = chunkText(text, { by: 'tokens', size, tokenizer: tok });
    expect(chunks.join(' ')).toBe(text.split(/\s+/).join(' '));
    chunks.forEach((c, i) => {
      const n = tok.encode(c, { addBos: false }).length;
      expect(n).toBeLessThanOrEqual(size);
      if (i + 1 < chunks.length) {
        const withNext = `${c} ${chunks[i + 1].split(' ')[0]}`;
        expect(tok.encode(withNext, { addBos: false }).length).toBeGreaterThan(size);
      }
    });
    expect(() => chunkText(text, { by: 'words', size: 0 })).toThrow('Chunk size must be at least 1, got 0.');
  });
});

describe('epoch sampler', () => {
  it('visits every row once per epoch, in a different order each epoch', () => {
    const s = new EpochSampler(10, { seed: 3 });
    const e0 = s.nextBatch(10);
    const e1 = s.nextBatch(10);
    expect([...e0].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...e1].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(e0).not.toEqual(e1);
    expect(new EpochSampler(10, { seed: 4 }).nextBatch(10)).not.toEqual(e0);
  });

  it('resumes exactly from a saved state, across an epoch boundary', () => {
    const straight = new EpochSampler(7, { seed: 11 });
    const all = straight.nextBatch(20);
    const first = new EpochSampler(7, { seed: 11 });
    const head = first.nextBatch(9);
    const saved = JSON.parse(JSON.stringify(first.state()));
    expect(saved).toEqual({ seed: 11, epoch: 1, index: 2 });
    const resumed = new EpochSampler(7, saved);
    expect([...head, ...resumed.nextBatch(11)]).toEqual(all);
  });

  it('refuses impossible states', () => {
    expect(() => new EpochSampler(0, { seed: 1 })).toThrow('Cannot sample from a data set of 0 rows.');
    expect(() => new EpochSampler(3, { seed: 1, epoch: 0, index: 5 })).toThrow(
      /outside a data set of 3 rows/,
    );
  });
});

describe('fine-tuning groups', () => {
  const rows = parseFinetuneJsonl(
    [
      '{"query": "q1", "pos": ["p1", "p1b"], "neg": ["n1", "n2", "n3", "n4", "n5"]}',
      '{"query": "q2", "pos": [{"title": "T", "text": "p2"}], "neg": ["m1", "m2"]}',
      '{"query": "q3", "pos": ["p3"]}',
    ].join('\n'),
    'train.jsonl',
  );

  it('reads passages as strings or {title, text}', () => {
    expect(rows[1].pos).toEqual([{ title: 'T', text: 'p2' }]);
    expect(rows[2].neg).toEqual([]);
    expect(() => parseFinetuneJsonl('{"query": "q", "pos": []}', 'f.jsonl')).toThrow(
      'f.jsonl line 1 has an empty "pos" list.',
    );
    expect(() => parseFinetuneJsonl('{"query": "q", "pos": [1]}', 'f.jsonl')).toThrow(
      /f.jsonl line 1 has a "pos" entry that is neither a string nor/,
    );
  });

  it('draws one positive first and distinct negatives', () => {
    const g = sampleGroup(rows[0], 4, groupRng(1, 0, 0));
    expect(g.passages.length).toBe(4);
    expect(['p1', 'p1b']).toContain(g.passages[0].text);
    const negs = g.passages.slice(1).map((p) => p.text);
    expect(new Set(negs).size).toBe(3);
    negs.forEach((n) => {
      expect(['n1', 'n2', 'n3', 'n4', 'n5']).toContain(n);
    });
    expect(sampleGroup(rows[0], 4, groupRng(1, 0, 0))).toEqual(g);
  });

  it('repeats the negatives when there are too few, as released', () => {
    const g = sampleGroup(rows[1], 6, groupRng(2, 0, 1));
    const negs = g.passages.slice(1).map((p) => p.text);
    expect(negs.length).toBe(5);
    expect(negs.filter((n) => n === 'm1').length).toBeLessThanOrEqual(3);
    expect(negs.filter((n) => n === 'm2').length).toBeLessThanOrEqual(3);
    expect(() => sampleGroup(rows[2], 2, groupRng(2, 0, 2))).toThrow(
      /has no negatives but group size 2 needs 1/,
    );
    expect(sampleGroup(rows[2], 1, groupRng(2, 0, 2)).passages).toEqual([{ text: 'p3' }]);
  });

  it('samples without replacement and permutes', () => {
    const r = new Rng(5);
    const s = r.sample([1, 2, 3, 4, 5, 6], 6);
    expect([...s].sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(() => r.sample([1], 2)).toThrow('Cannot sample 2 items from 1.');
    const f = new Rng(9);
    for (let i = 0; i < 1000; i++) {
      const x = f.float();
      expect(x >= 0 && x < 1).toBe(true);
    }
  });
});

describe('stop words', () => {
  it('is NLTK English (179 words) plus ! , . ?', () => {
    expect(NLTK_ENGLISH_STOPWORDS.length).toBe(179);
    expect(new Set(NLTK_ENGLISH_STOPWORDS).size).toBe(179);
    expect(STOPWORDS.size).toBe(183);
  });

  it('collapses punctuation and drops stop words like the released code', () => {
    expect(removeStopWords("The wing's lift, at high_speed!")).toBe('wing lift high speed');
    expect(removeStopWords("Don't stop -- it's ÉTÉ 2x²")).toBe('stop ÉTÉ 2x²');
    expect(removeStopWords('the of and')).toBe('');
  });
});
