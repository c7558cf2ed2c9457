/**
 * A training data file as text (Node): a byte-order mark is dropped (as Python's `utf-8-sig` does) and
 * a byte that is not UTF-8 is one sentence naming the file and line, never a silent U+FFFD in the data.
 *
 * ```ts
 * const text = await readUtf8File('train.jsonl'); // throws 'train.jsonl line 7 is not valid UTF-8 text.'
 * ```
 */
import { readFile } from 'node:fs/promises';

const strict = () => new TextDecoder('utf-8', { fatal: true });

/** Reads `file` strictly as UTF-8; a missing file is reported by the caller (the error is rethrown). */
export async function readUtf8File(file: string): Promise<string> {
  const bytes = await readFile(file);
  try {
    return strict().decode(bytes);
  } catch {
    let line = 1;
    for (let start = 0; start <= bytes.length; line++) {
      const nl = bytes.indexOf(0x0a, start);
      const end = nl < 0 ? bytes.length : nl;
      try {
        strict().decode(bytes.subarray(start, end));
      } catch {
        break;
      }
      start = end + 1;
    }
    throw new TextFileError(`${file} line ${line} is not valid UTF-8 text.`);
  }
}

/** A data file that is not UTF-8 text. */
export class TextFileError extends Error {
  override name = 'TextFileError';
  readonly userFacing = true;
}
