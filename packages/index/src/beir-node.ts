/** Node loader for a BEIR folder; streams line by line so large corpora never become one string. */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type BeirDataset,
  type BeirDoc,
  type BeirQuery,
  checkQrelsHeader,
  parseCorpusLine,
  parseQrelsLine,
  parseQueryLine,
  type Qrels,
  UniqueIdList,
} from './beir.ts';
import { readUtf8Lines } from './text-lines.ts';

async function requireFile(path: string, what: string): Promise<void> {
  const info = await stat(path).catch(() => null);
  if (!info?.isFile()) throw new Error(`${what} ${path} does not exist or is not a file.`);
}

/**
 * Calls `fn(line, lineNumber)` for each non-blank line of a UTF-8 file (LF or CRLF; a BOM is dropped,
 * a byte that is not UTF-8 is an error naming the line).
 */
export async function forEachFileLine(path: string, fn: (line: string, n: number) => void): Promise<void> {
  for await (const { text, line } of readUtf8Lines(path)) if (text.trim() !== '') fn(text, line);
}

/** Reads a `corpus.jsonl` file. */
export async function readCorpus(path: string): Promise<BeirDoc[]> {
  await requireFile(path, 'Corpus file');
  const list = new UniqueIdList<BeirDoc>(path);
  await forEachFileLine(path, (line, n) => list.push(parseCorpusLine(line, path, n), n));
  return list.items;
}

/** Reads a `queries.jsonl` file. */
export async function readQueries(path: string): Promise<BeirQuery[]> {
  await requireFile(path, 'Queries file');
  const list = new UniqueIdList<BeirQuery>(path);
  await forEachFileLine(path, (line, n) => list.push(parseQueryLine(line, path, n), n));
  return list.items;
}

/** Reads a BEIR qrels TSV file (header line first). */
export async function readQrels(path: string): Promise<Qrels> {
  await requireFile(path, 'Qrels file');
  const qrels: Qrels = new Map();
  let sawHeader = false;
  await forEachFileLine(path, (line, n) => {
    if (sawHeader) return parseQrelsLine(qrels, line, path, n);
    checkQrelsHeader(line, path, n);
    sawHeader = true;
  });
  if (!sawHeader) throw new Error(`Qrels file ${path} is empty: it has no header line.`);
  return qrels;
}

/**
 * Loads a BEIR folder: `corpus.jsonl`, `queries.jsonl` and `qrels/<split>.tsv`.
 * @example const { corpus, queries, qrels } = await loadBeir('data/cranfield');
 */
export async function loadBeir(dir: string, split = 'test'): Promise<BeirDataset> {
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) throw new Error(`BEIR folder ${dir} does not exist or is not a directory.`);
  const [corpus, queries, qrels] = await Promise.all([
    readCorpus(join(dir, 'corpus.jsonl')),
    readQueries(join(dir, 'queries.jsonl')),
    readQrels(join(dir, 'qrels', `${split}.tsv`)),
  ]);
  return { corpus, queries, qrels };
}
