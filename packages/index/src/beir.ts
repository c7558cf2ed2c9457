/**
 * BEIR dataset files, parsed from text (browser-safe; the Node folder loader is `loadBeir` in `node.ts`):
 * - `corpus.jsonl`: one `{"_id", "title", "text"}` object per line,
 * - `queries.jsonl`: one `{"_id", "text"}` object per line,
 * - `qrels/<split>.tsv`: a `query-id\tcorpus-id\tscore` header, then one judgement per line.
 */

/** One corpus document. `title` is '' when the file has none. */
export interface BeirDoc {
  id: string;
  title: string;
  text: string;
}

/** One query. */
export interface BeirQuery {
  id: string;
  text: string;
}

/** Relevance judgements: query id -> (document id -> integer grade). Grades <= 0 mean "not relevant". */
export type Qrels = Map<string, Map<string, number>>;

/** A loaded BEIR split. `queries` keeps every query of the file, judged or not. */
export interface BeirDataset {
  corpus: BeirDoc[];
  queries: BeirQuery[];
  qrels: Qrels;
}

/** The header BEIR writes as the first line of every qrels file. */
export const QRELS_HEADER = ['query-id', 'corpus-id', 'score'] as const;

/** Splits text into lines (LF or CRLF), calling `fn(line, lineNumber)` for each non-blank line. */
export function forEachLine(text: string, fn: (line: string, lineNumber: number) => void): void {
  let start = 0;
  let lineNumber = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNumber++;
    let line = text.slice(start, end);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() !== '') fn(line, lineNumber);
    start = end + 1;
  }
}

function parseJsonObject(line: string, file: string, lineNumber: number): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    throw new Error(`${file} line ${lineNumber} is not valid JSON (${(e as Error).message}).`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${file} line ${lineNumber} is not a JSON object.`);
  }
  return value as Record<string, unknown>;
}

function readId(obj: Record<string, unknown>, file: string, lineNumber: number): string {
  const id = obj._id;
  if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  if (typeof id !== 'string' || id === '') {
    throw new Error(`${file} line ${lineNumber} has no "_id" string.`);
  }
  return id;
}

function readString(
  obj: Record<string, unknown>,
  key: string,
  file: string,
  lineNumber: number,
  optional: boolean,
): string {
  const v = obj[key];
  if (v === undefined || v === null) {
    if (optional) return '';
    throw new Error(`${file} line ${lineNumber} has no "${key}" field.`);
  }
  if (typeof v !== 'string')
    throw new Error(`${file} line ${lineNumber} has a "${key}" that is not a string.`);
  return v;
}

/** Parses one `corpus.jsonl` line. */
export function parseCorpusLine(line: string, file: string, lineNumber: number): BeirDoc {
  const obj = parseJsonObject(line, file, lineNumber);
  const id = readId(obj, file, lineNumber);
  return {
    id,
    title: readString(obj, 'title', file, lineNumber, true),
    text: readString(obj, 'text', file, lineNumber, false),
  };
}

/** Parses one `queries.jsonl` line. */
export function parseQueryLine(line: string, file: string, lineNumber: number): BeirQuery {
  const obj = parseJsonObject(line, file, lineNumber);
  return { id: readId(obj, file, lineNumber), text: readString(obj, 'text', file, lineNumber, false) };
}

/** Collects items while rejecting a repeated id, so an index never holds two vectors for one id. */
export class UniqueIdList<T extends { id: string }> {
  readonly items: T[] = [];
  private readonly seen = new Set<string>();
  constructor(private readonly file: string) {}

  push(item: T, lineNumber: number): void {
    if (this.seen.has(item.id)) {
      throw new Error(`${this.file} line ${lineNumber} repeats the id "${item.id}".`);
    }
    this.seen.add(item.id);
    this.items.push(item);
  }
}

/**
 * Parses a whole `corpus.jsonl`.
 * @example parseCorpus('{"_id":"d1","title":"T","text":"body"}\n') // [{ id: 'd1', title: 'T', text: 'body' }]
 */
export function parseCorpus(text: string, file = 'corpus.jsonl'): BeirDoc[] {
  const list = new UniqueIdList<BeirDoc>(file);
  forEachLine(text, (line, n) => list.push(parseCorpusLine(line, file, n), n));
  return list.items;
}

/** Parses a whole `queries.jsonl`. */
export function parseQueries(text: string, file = 'queries.jsonl'): BeirQuery[] {
  const list = new UniqueIdList<BeirQuery>(file);
  forEachLine(text, (line, n) => list.push(parseQueryLine(line, file, n), n));
  return list.items;
}

/** Checks a BEIR qrels header line (tab separated). */
export function checkQrelsHeader(line: string, file: string, lineNumber: number): void {
  const fields = line.split('\t').map((f) => f.trim());
  if (fields.length !== 3 || fields.some((f, i) => f !== QRELS_HEADER[i])) {
    throw new Error(`${file} line ${lineNumber} must be the header "query-id<TAB>corpus-id<TAB>score".`);
  }
}

/** Parses an integer relevance grade, as trec_eval reads them. */
export function parseGrade(field: string, file: string, lineNumber: number): number {
  const grade = Number(field);
  if (field === '' || !Number.isInteger(grade)) {
    throw new Error(`${file} line ${lineNumber} has a score "${field}" that is not an integer.`);
  }
  return grade;
}

/** Adds one judgement, rejecting a pair judged twice (trec_eval refuses those too). */
export function addJudgement(
  qrels: Qrels,
  qid: string,
  docId: string,
  grade: number,
  file: string,
  lineNumber: number,
): void {
  let docs = qrels.get(qid);
  if (!docs) {
    docs = new Map();
    qrels.set(qid, docs);
  }
  if (docs.has(docId)) {
    throw new Error(
      `${file} line ${lineNumber} judges query "${qid}" and document "${docId}" a second time.`,
    );
  }
  docs.set(docId, grade);
}

/** Parses one qrels data line (after the header) into `qrels`. */
export function parseQrelsLine(qrels: Qrels, line: string, file: string, lineNumber: number): void {
  const fields = line.split('\t').map((f) => f.trim());
  if (fields.length !== 3 || fields[0] === '' || fields[1] === '') {
    throw new Error(
      `${file} line ${lineNumber} must have three tab-separated fields: query-id, corpus-id and score.`,
    );
  }
  addJudgement(qrels, fields[0], fields[1], parseGrade(fields[2], file, lineNumber), file, lineNumber);
}

/**
 * Parses a BEIR qrels TSV (header line first).
 * @example parseQrels('query-id\tcorpus-id\tscore\nq1\td1\t2\n').get('q1')?.get('d1') // 2
 */
export function parseQrels(text: string, file = 'qrels.tsv'): Qrels {
  const qrels: Qrels = new Map();
  let sawHeader = false;
  forEachLine(text, (line, n) => {
    if (!sawHeader) {
      checkQrelsHeader(line, file, n);
      sawHeader = true;
    } else {
      parseQrelsLine(qrels, line, file, n);
    }
  });
  if (!sawHeader) throw new Error(`${file} is empty: it has no header line.`);
  return qrels;
}

/** The text BEIR retrievers index for a document: title, one space, text (just text when untitled). */
export function documentText(doc: BeirDoc): string {
  return doc.title === '' ? doc.text : `${doc.title} ${doc.text}`;
}
