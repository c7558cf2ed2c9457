/**
 * UTF-8 text files read strictly (Node): a byte-order mark is dropped (as Python's `utf-8-sig` does),
 * and a byte that is not UTF-8 is an error naming the file and line, never a silent U+FFFD in the text.
 *
 * ```ts
 * for await (const { text, line } of readUtf8Lines('corpus.jsonl')) console.log(line, text);
 * const all = decodeUtf8(await readFile('qrels.tsv'), 'qrels.tsv');
 * ```
 */
import { createReadStream } from 'node:fs';

const strict = () => new TextDecoder('utf-8', { fatal: true });

/** The 1-based line of the first byte sequence that is not UTF-8 (1 when none is found). */
function badLine(bytes: Uint8Array): number {
  let start = 0;
  for (let line = 1; start <= bytes.length; line++) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    try {
      strict().decode(bytes.subarray(start, end));
    } catch {
      return line;
    }
    start = end + 1;
  }
  return 1;
}

/** A whole file's bytes as text, BOM dropped; a non-UTF-8 byte is an error naming `file` and the line. */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return strict().decode(bytes);
  } catch {
    throw new Error(`${file} line ${badLine(bytes)} is not valid UTF-8 text.`);
  }
}

/**
 * The lines of a file (LF or CRLF; the last one may lack its newline), streamed, each checked as
 * UTF-8; a BOM at the start of the file is dropped.
 */
export async function* readUtf8Lines(file: string): AsyncGenerator<{ text: string; line: number }> {
  const input = createReadStream(file);
  let rest: Uint8Array = new Uint8Array(0);
  let line = 0;
  const decode = (bytes: Uint8Array): string => {
    line++;
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === 0x0d) end--;
    let start = 0;
    if (line === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
    try {
      return strict().decode(bytes.subarray(start, end));
    } catch {
      throw new Error(`${file} line ${line} is not valid UTF-8 text.`);
    }
  };
  try {
    for await (const chunk of input) {
      const buf: Uint8Array = rest.length > 0 ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
      let start = 0;
      for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a, start)) {
        yield { text: decode(buf.subarray(start, nl)), line };
        start = nl + 1;
      }
      rest = buf.subarray(start);
    }
    if (rest.length > 0) yield { text: decode(rest), line };
  } finally {
    input.destroy();
  }
}
