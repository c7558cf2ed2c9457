/** Node file helpers for TREC runs (`llara eval-run`). */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from './atomic-write.ts';
import type { Evaluation, Run } from './metrics.ts';
import { decodeUtf8 } from './text-lines.ts';
import { type EvalRunOptions, evalRun, formatTrecRun, type TrecRunFormat } from './trec.ts';

/** Reads a UTF-8 text file (BOM dropped), turning a missing file or a non-UTF-8 byte into one sentence naming it. */
export async function readTextFile(path: string, what: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${what} ${path} does not exist.`);
    if (code === 'EISDIR') throw new Error(`${what} ${path} is a directory, not a file.`);
    throw new Error(`${what} ${path} cannot be read (${code ?? (e as Error).message}).`);
  }
  return decodeUtf8(bytes, path);
}

/**
 * Evaluates a TREC run file against a qrels file (TREC or BEIR TSV).
 * @example formatEvaluation(await evalRunFiles('data/cranfield/qrels/test.tsv', 'bm25.run'))
 */
export async function evalRunFiles(
  qrelsPath: string,
  runPath: string,
  options: Omit<EvalRunOptions, 'qrelsFile' | 'runFile'> = {},
): Promise<Evaluation> {
  const [qrelsText, runText] = await Promise.all([
    readTextFile(qrelsPath, 'Qrels file'),
    readTextFile(runPath, 'Run file'),
  ]);
  return evalRun(qrelsText, runText, { ...options, qrelsFile: qrelsPath, runFile: runPath });
}

/** Writes a run as a TREC file, atomically. */
export async function writeTrecRun(path: string, run: Run, options: TrecRunFormat = {}): Promise<void> {
  await writeFileAtomic(path, formatTrecRun(run, options));
}
