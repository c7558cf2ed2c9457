/**
 * The passage texts saved beside an index by `llara index build` (texts.jsonl), read back by
 * `llara search` (the hits' texts) and `llara serve` (all of them, once).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { TEXTS_FILE } from './commands/index-build.ts';
import { UserError } from './errors.ts';

export interface IndexText {
  title?: string;
  text: string;
}

/**
 * Texts by id from `dir`'s texts.jsonl, only those in `wanted` when given (reading stops once all are
 * found); null when the index has no texts file.
 */
export async function readIndexTexts(
  dir: string,
  wanted?: ReadonlySet<string>,
): Promise<Map<string, IndexText> | null> {
  const file = join(dir, TEXTS_FILE);
  if (!(await stat(file).catch(() => null))) return null;
  const out = new Map<string, IndexText>();
  const input = createReadStream(file, 'utf8');
  let n = 0;
  try {
    for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
      n++;
      if (line.trim() === '') continue;
      let row: { id?: unknown; title?: unknown; text?: unknown };
      try {
        row = JSON.parse(line);
      } catch {
        throw new UserError(`${file} line ${n} is not valid JSON.`);
      }
      if (typeof row.id !== 'string' || typeof row.text !== 'string') continue;
      if (wanted && !wanted.has(row.id)) continue;
      out.set(
        row.id,
        typeof row.title === 'string' ? { title: row.title, text: row.text } : { text: row.text },
      );
      if (wanted && out.size === wanted.size) break;
    }
  } finally {
    input.destroy();
  }
  return out;
}
