/**
 * TREC run and qrels text files (browser-safe).
 * Run line: `qid Q0 docid rank score tag` (whitespace separated; `#` comment lines and blank lines skipped,
 * as trec_eval does). The rank column is read but never used for ordering: see `rankDocuments`.
 * Qrels line: `qid iter docid grade` (TREC), or the BEIR TSV with its `query-id corpus-id score` header.
 */
import { addJudgement, checkQrelsHeader, forEachLine, parseGrade, parseQrels, type Qrels } from './beir.ts';
import { type EvaluateOptions, type Evaluation, evaluate, type Run } from './metrics.ts';
import { rankDocuments } from './ranking.ts';

function fieldsOf(line: string): string[] {
  return line.trim().split(/\s+/);
}

function isComment(line: string): boolean {
  return line.trimStart().startsWith('#');
}

/**
 * Parses a TREC run file into query id -> (document id -> score).
 * @example parseTrecRun('q1 Q0 d1 1 0.9 bm25\n').get('q1')?.get('d1') // 0.9
 */
export function parseTrecRun(text: string, file = 'run'): Run {
  const run: Run = new Map();
  forEachLine(text, (line, n) => {
    if (isComment(line)) return;
    const f = fieldsOf(line);
    if (f.length < 6) {
      throw new Error(`${file} line ${n} must have six fields: qid, Q0, docid, rank, score and tag.`);
    }
    const score = Number(f[4]);
    if (Number.isNaN(score)) throw new Error(`${file} line ${n} has a score "${f[4]}" that is not a number.`);
    let docs = run.get(f[0]);
    if (!docs) {
      docs = new Map();
      run.set(f[0], docs);
    }
    if (docs.has(f[2]))
      throw new Error(`${file} line ${n} lists document "${f[2]}" for query "${f[0]}" twice.`);
    docs.set(f[2], score);
  });
  return run;
}

/** Parses a TREC qrels file (`qid iter docid grade`). */
export function parseTrecQrels(text: string, file = 'qrels'): Qrels {
  const qrels: Qrels = new Map();
  forEachLine(text, (line, n) => {
    const f = fieldsOf(line);
    if (f.length !== 4)
      throw new Error(`${file} line ${n} must have four fields: qid, iter, docid and grade.`);
    addJudgement(qrels, f[0], f[2], parseGrade(f[3], file, n), file, n);
  });
  return qrels;
}

/** Parses qrels in either layout: BEIR TSV when the first line is its header, TREC otherwise. */
export function parseAnyQrels(text: string, file = 'qrels'): Qrels {
  let first = '';
  forEachLine(text.slice(0, 4096), (line) => {
    if (first === '') first = line;
  });
  if (first.split('\t')[0]?.trim() === 'query-id') {
    checkQrelsHeader(first, file, 1);
    return parseQrels(text, file);
  }
  return parseTrecQrels(text, file);
}

export interface TrecRunFormat {
  /** The run tag (last column), default 'llara'. */
  tag?: string;
  /** Keep only this many documents per query (best first). */
  depth?: number;
}

function checkToken(value: string, what: string): void {
  if (value === '' || /\s/.test(value))
    throw new Error(`Cannot write a TREC run: ${what} "${value}" is empty or has whitespace.`);
}

/**
 * Writes a run as TREC text, each query's documents in the package's ranking order with ranks from 1.
 * Scores are written in full (shortest round-trip form).
 * @example formatTrecRun(new Map([['q1', new Map([['d1', 0.5]])]])) // 'q1 Q0 d1 1 0.5 llara\n'
 */
export function formatTrecRun(run: Run, options: TrecRunFormat = {}): string {
  const tag = options.tag ?? 'llara';
  checkToken(tag, 'the tag');
  const out: string[] = [];
  for (const [qid, docs] of run) {
    checkToken(qid, 'query id');
    const ranked = rankDocuments(docs).slice(0, options.depth ?? Number.POSITIVE_INFINITY);
    ranked.forEach((docId, i) => {
      checkToken(docId, 'document id');
      out.push(`${qid} Q0 ${docId} ${i + 1} ${docs.get(docId)} ${tag}\n`);
    });
  }
  return out.join('');
}

export interface EvalRunOptions extends EvaluateOptions {
  /** Names used in error messages. */
  qrelsFile?: string;
  runFile?: string;
}

/**
 * Evaluates a TREC run text against qrels text (TREC or BEIR layout): the core of `llara eval-run`.
 * @example formatEvaluation(evalRun(qrelsText, runText, { ks: [10, 100] }))
 */
export function evalRun(qrelsText: string, runText: string, options: EvalRunOptions = {}): Evaluation {
  const qrels = parseAnyQrels(qrelsText, options.qrelsFile);
  const run = parseTrecRun(runText, options.runFile);
  return evaluate(qrels, run, options);
}
