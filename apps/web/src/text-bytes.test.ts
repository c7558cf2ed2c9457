import { describe, expect, it } from 'vitest';
import { decodeText, parseJsonText } from './text-bytes.ts';
import { describeTruncation } from './truncation.ts';

describe('text checks', () => {
  it('decodes UTF-8 text and names a binary file in one sentence', () => {
    expect(decodeText(new TextEncoder().encode('über'), 'a.txt')).toBe('über');
    expect(() => decodeText(new Uint8Array([0xc3, 0x28]), 'a.txt')).toThrow(
      'a.txt is not a text file: it is not valid UTF-8.',
    );
    expect(() => decodeText(new Uint8Array([0x7b, 0x00]), 'b.json')).toThrow(
      'b.json is not a text file: it contains NUL bytes.',
    );
  });

  it('reports malformed JSON without quoting it', () => {
    expect(parseJsonText('{"a": 1}', 'c.json')).toEqual({ a: 1 });
    let message = '';
    try {
      parseJsonText('{\n  "hidden_size": 64,\n  secret words\n}', 'm/config.json');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^m\/config\.json is not valid JSON( \(error at character \d+\))?\.$/);
  });
});

describe('describeTruncation', () => {
  const cut = (count: number) => ({ count, keptTokens: 84, maxLen: 128 });
  it('says nothing when nothing was cut, else how many and to how many tokens', () => {
    expect(describeTruncation(cut(0), 5, 'document')).toBeNull();
    expect(describeTruncation(cut(1), 5, 'document')).toBe(
      '1 of 5 documents was longer than the 128-token limit (prompt included) and was cut to its first 84 tokens.',
    );
    expect(describeTruncation(cut(2), 5, 'document')).toBe(
      '2 of 5 documents were longer than the 128-token limit (prompt included) and were cut to their first 84 tokens.',
    );
    expect(describeTruncation(cut(1), 1, 'document')).toBe(
      'The document was longer than the 128-token limit (prompt included) and was cut to its first 84 tokens.',
    );
    expect(describeTruncation(cut(1), 1, 'query')).toBe(
      'The query is longer than the 128-token limit (prompt included): only its first 84 tokens were searched.',
    );
  });
});
