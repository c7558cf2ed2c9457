import { describe, expect, it } from 'vitest';
import { asLines, documentsFromFile, documentsFromLines } from './documents.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('documents', () => {
  it('takes one document per non-empty line, ids naming the line', () => {
    expect(documentsFromLines('wings lift\n\n  heat transfer  \r\nshock waves\n')).toEqual({
      ids: ['line 1', 'line 3', 'line 4'],
      texts: ['wings lift', 'heat transfer', 'shock waves'],
    });
  });

  it('reads .jsonl as a BEIR corpus, keeping ids and joining titles', () => {
    const docs = documentsFromFile(
      'c.jsonl',
      bytes('{"_id": "7", "title": "Wings", "text": "lift and drag"}\n{"_id": "9", "text": "heat"}\n'),
    );
    expect(docs).toEqual({ ids: ['7', '9'], texts: ['Wings lift and drag', 'heat'] });
  });

  it('names the file and line of a malformed .jsonl line', () => {
    expect(() => documentsFromFile('bad.jsonl', bytes('{"_id": "1", "text": "a"}\n{"_id": \n'))).toThrow(
      /^bad\.jsonl line 2 /,
    );
  });

  it('rejects empty files and other extensions in one sentence', () => {
    expect(() => documentsFromFile('empty.txt', bytes('\n \n'))).toThrow(
      'empty.txt holds no documents (it has no non-empty lines).',
    );
    expect(() => documentsFromFile('paper.pdf', bytes('x'))).toThrow(
      'paper.pdf is neither a .txt nor a .jsonl file.',
    );
  });

  it('rejects binary files in one sentence that names them and quotes none of their bytes', () => {
    expect(() => documentsFromFile('noise.txt', new Uint8Array([0x68, 0xff, 0xfe, 0x41]))).toThrow(
      'noise.txt is not a text file: it is not valid UTF-8.',
    );
    expect(() => documentsFromFile('nul.jsonl', bytes('{"_id": "1", "text": "a\0"}'))).toThrow(
      'nul.jsonl is not a text file: it contains NUL bytes.',
    );
    // A UTF-8 byte-order mark and non-ASCII text are fine.
    expect(
      documentsFromFile('bom.txt', new Uint8Array([0xef, 0xbb, 0xbf, ...bytes('Mach 2 über\n')])),
    ).toEqual({
      ids: ['line 1'],
      texts: ['Mach 2 über'],
    });
  });

  it('shows each document on one textarea line', () => {
    expect(asLines({ ids: ['a', 'b'], texts: ['two\nlines', ' b '] })).toBe('two lines\nb');
  });
});
