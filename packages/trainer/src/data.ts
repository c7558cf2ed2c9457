/**
 * Training data: pretraining rows (JSONL, raw text cut into consecutive chunks, or a BEIR corpus),
 * fine-tuning rows with (1 positive + n negatives) group sampling, and a seeded epoch sampler whose
 * position (seed, epoch, index) is all a checkpoint needs for an exact resume.
 *
 * Parsers take the file's text and its name (for one-sentence errors that name the file and line);
 * reading the file is the caller's job, so this module runs in the browser too.
 *
 * @example
 * const rows = parsePretrainJsonl(text, 'wiki.jsonl');
 * const sampler = new EpochSampler(rows.length, { seed: 42, epoch: 0, index: 0 });
 * const batch = sampler.nextBatch(8).map((i) => rows[i]);
 * checkpoint.data = sampler.state();
 */
import type { Passage, PretrainRow, TokenizerLike } from './layout.ts';

// ---------------------------------------------------------------------------------------- random

/** Mixes integers into one 32-bit seed (splitmix-style finaliser per value). */
export function mixSeed(...values: number[]): number {
  let h = 0x9e3779b9;
  for (const v of values) {
    h = Math.imul(h ^ (v >>> 0) ^ Math.floor(v / 2 ** 32), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** A small seeded generator (mulberry32); `state` can be saved and restored. */
export class Rng {
  state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1). */
  float(): number {
    return this.nextUint32() / 2 ** 32;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }
  /** A random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [p[i], p[j]] = [p[j], p[i]];
    }
    return p;
  }
  /** `k` items drawn without replacement, in draw order (Python's `random.sample` semantics). */
  sample<T>(items: readonly T[], k: number): T[] {
    if (k > items.length) throw new Error(`Cannot sample ${k} items from ${items.length}.`);
    const pool = items.slice();
    for (let i = 0; i < k; i++) {
      const j = i + this.int(pool.length - i);
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    return pool.slice(0, k);
  }
}

// ---------------------------------------------------------------------------------------- sampler

/** Where a sampler stands: the next item is `order(epoch)[index]`. */
export interface SamplerState {
  seed: number;
  epoch: number;
  index: number;
}

/**
 * Visits 0..size-1 in a fresh seeded permutation every epoch. The permutation of an epoch depends only
 * on (seed, epoch), so restoring a saved `state()` continues with exactly the items that would have come.
 * Batches run on across an epoch boundary.
 */
export class EpochSampler {
  readonly size: number;
  private readonly seed: number;
  private epoch: number;
  private index: number;
  private cachedEpoch = -1;
  private cachedOrder: number[] = [];

  constructor(size: number, state: SamplerState | { seed: number }) {
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`Cannot sample from a data set of ${size} rows.`);
    const s = state as Partial<SamplerState>;
    this.size = size;
    this.seed = state.seed;
    this.epoch = s.epoch ?? 0;
    this.index = s.index ?? 0;
    if (this.index < 0 || this.index > size) {
      throw new Error(`Sampler position ${this.index} is outside a data set of ${size} rows.`);
    }
  }

  /** The visiting order of `epoch`. */
  order(epoch: number): number[] {
    if (epoch !== this.cachedEpoch) {
      this.cachedOrder = new Rng(mixSeed(this.seed, epoch)).permutation(this.size);
      this.cachedEpoch = epoch;
    }
    return this.cachedOrder;
  }

  /** The next row index, and the epoch it belongs to. */
  next(): { row: number; epoch: number } {
    if (this.index >= this.size) {
      this.epoch++;
      this.index = 0;
    }
    const epoch = this.epoch;
    const row = this.order(epoch)[this.index++];
    return { row, epoch };
  }

  /** The next `n` row indices. */
  nextBatch(n: number): number[] {
    return Array.from({ length: n }, () => this.next().row);
  }

  /** A plain object to save in a checkpoint. */
  state(): SamplerState {
    return { seed: this.seed, epoch: this.epoch, index: this.index };
  }
}

// ---------------------------------------------------------------------------------------- JSONL

function parseJsonl<T>(text: string, fileName: string, each: (value: unknown, line: number) => T): T[] {
  const out: T[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line.length === 0) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`${fileName} line ${i + 1} is not valid JSON.`);
    }
    out.push(each(value, i + 1));
  }
  if (out.length === 0) throw new Error(`${fileName} has no rows.`);
  return out;
}

function field(
  obj: unknown,
  key: string,
  fileName: string,
  line: number,
  optional = false,
): string | undefined {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new Error(`${fileName} line ${line} is not a JSON object.`);
  }
  const v = (obj as Record<string, unknown>)[key];
  if (v === undefined || v === null) {
    if (optional) return undefined;
    throw new Error(`${fileName} line ${line} has no "${key}" field.`);
  }
  if (typeof v !== 'string') throw new Error(`${fileName} line ${line} has a "${key}" that is not a string.`);
  return v;
}

/**
 * Pretraining rows in the released format: `{"input", "output_summarize"?, "output_predict"}` per line
 * (blank lines are skipped). Without `output_summarize`, EBAE reconstructs `input`.
 */
export function parsePretrainJsonl(text: string, fileName = 'pretraining data'): PretrainRow[] {
  return parseJsonl(text, fileName, (v, line) => {
    const row: PretrainRow = {
      input: field(v, 'input', fileName, line) as string,
      outputPredict: field(v, 'output_predict', fileName, line) as string,
    };
    const summarize = field(v, 'output_summarize', fileName, line, true);
    if (summarize !== undefined) row.outputSummarize = summarize;
    return row;
  });
}

/** The released JSONL form of a row (the inverse of `parsePretrainJsonl`). */
export function formatPretrainJsonl(rows: readonly PretrainRow[]): string {
  return rows
    .map((r) =>
      JSON.stringify({
        input: r.input,
        output_summarize: r.outputSummarize ?? r.input,
        output_predict: r.outputPredict,
      }),
    )
    .map((l) => `${l}\n`)
    .join('');
}

/** One fine-tuning example: a query, its positive passages and its hard negatives. */
export interface FinetuneRow {
  query: string;
  pos: Passage[];
  neg: Passage[];
}

function passageList(v: unknown, key: string, fileName: string, line: number, nonEmpty: boolean): Passage[] {
  const list = (v as Record<string, unknown>)[key];
  if (list === undefined && !nonEmpty) return [];
  if (!Array.isArray(list)) throw new Error(`${fileName} line ${line} has a "${key}" that is not a list.`);
  if (nonEmpty && list.length === 0) throw new Error(`${fileName} line ${line} has an empty "${key}" list.`);
  return list.map((p) => {
    if (typeof p === 'string') return { text: p };
    if (typeof p === 'object' && p !== null && typeof (p as Passage).text === 'string') {
      const title = (p as Passage).title;
      return typeof title === 'string' ? { title, text: (p as Passage).text } : { text: (p as Passage).text };
    }
    throw new Error(
      `${fileName} line ${line} has a "${key}" entry that is neither a string nor {"title", "text"}.`,
    );
  });
}

/** Fine-tuning rows `{"query", "pos": [...], "neg": [...]}`; passages are strings or `{"title", "text"}`. */
export function parseFinetuneJsonl(text: string, fileName = 'fine-tuning data'): FinetuneRow[] {
  return parseJsonl(text, fileName, (v, line) => ({
    query: field(v, 'query', fileName, line) as string,
    pos: passageList(v, 'pos', fileName, line, true),
    neg: passageList(v, 'neg', fileName, line, false),
  }));
}

/**
 * One training group as the released collator draws it: a random positive, then groupSize-1 negatives
 * sampled without replacement; with too few negatives the list is repeated ceil((g-1)/|unique negs|)
 * times and sampled from. `passages[0]` is the positive.
 */
export function sampleGroup(
  row: FinetuneRow,
  groupSize: number,
  rng: Rng,
): { query: string; passages: Passage[] } {
  const need = groupSize - 1;
  const positive = row.pos[rng.int(row.pos.length)];
  if (need <= 0) return { query: row.query, passages: [positive] };
  if (row.neg.length === 0) {
    throw new Error(
      `The example for query "${row.query.slice(0, 60)}" has no negatives but group size ${groupSize} needs ${need}.`,
    );
  }
  let negs: Passage[];
  if (row.neg.length < need) {
    const unique = new Set(row.neg.map((p) => `${p.title ?? ''}\u0000${p.text}`)).size;
    const times = Math.ceil(need / unique);
    negs = rng.sample(Array.from({ length: times }, () => row.neg).flat(), need);
  } else {
    negs = rng.sample(row.neg, need);
  }
  return { query: row.query, passages: [positive, ...negs] };
}

/** The generator for row `row` in `epoch`: a group depends only on (seed, epoch, row), so resumes are exact. */
export function groupRng(seed: number, epoch: number, row: number): Rng {
  return new Rng(mixSeed(seed, epoch, row, 0x67726f75));
}

// ---------------------------------------------------------------------------------------- raw text

export type ChunkOptions =
  | { by: 'words'; size: number }
  | { by: 'tokens'; size: number; tokenizer: TokenizerLike };

/**
 * Cuts a raw text into consecutive chunks of whole words, joined by single spaces: `size` words each,
 * or as many words as fit `size` tokens (a word's count is its tokens encoded alone without BOS, which
 * is exact for SentencePiece vocabularies like LLaMA's that never merge across a space; a single word
 * longer than `size` tokens becomes a chunk of its own).
 */
export function chunkText(text: string, opts: ChunkOptions): string[] {
  if (!(opts.size >= 1)) throw new Error(`Chunk size must be at least 1, got ${opts.size}.`);
  const words = text.split(/\s+/).filter((w) => w.length > 0);
  const chunks: string[] = [];
  if (opts.by === 'words') {
    for (let i = 0; i < words.length; i += opts.size) chunks.push(words.slice(i, i + opts.size).join(' '));
    return chunks;
  }
  const counts = new Map<string, number>();
  let current: string[] = [];
  let used = 0;
  for (const w of words) {
    let n = counts.get(w);
    if (n === undefined) {
      n = opts.tokenizer.encode(w, { addBos: false }).length;
      counts.set(w, n);
    }
    if (current.length > 0 && used + n > opts.size) {
      chunks.push(current.join(' '));
      current = [];
      used = 0;
    }
    current.push(w);
    used += n;
  }
  if (current.length > 0) chunks.push(current.join(' '));
  return chunks;
}

/** Consecutive chunks as pretraining rows: chunk i is the input (and EBAE target), chunk i+1 the next passage. */
export function chunksToPretrainRows(chunks: readonly string[]): PretrainRow[] {
  const rows: PretrainRow[] = [];
  for (let i = 0; i + 1 < chunks.length; i++) rows.push({ input: chunks[i], outputPredict: chunks[i + 1] });
  return rows;
}

// ---------------------------------------------------------------------------------------- BEIR

export interface BeirDoc {
  id: string;
  title: string;
  text: string;
}

/** A BEIR `corpus.jsonl` (`{"_id", "title"?, "text"}` per line), in file order. */
export function parseBeirCorpus(text: string, fileName = 'corpus.jsonl'): BeirDoc[] {
  return parseJsonl(text, fileName, (v, line) => ({
    id: field(v, '_id', fileName, line) as string,
    title: field(v, 'title', fileName, line, true) ?? '',
    text: field(v, 'text', fileName, line) as string,
  }));
}

/** Splits after `.`, `!` or `?` followed by whitespace (Cranfield writes ` . `); no abbreviation rules. */
export function splitSentences(text: string): string[] {
  return text
    .trim()
    .split(/(?<=[.!?])\s+/)
    .filter((s) => s.length > 0);
}

/** Title and text as one passage; the title is left out when the text already starts with it (Cranfield does). */
export function docPassage(doc: BeirDoc): string {
  const title = doc.title.trim();
  const text = doc.text.trim();
  if (title.length === 0 || text.startsWith(title)) return text;
  return `${title} ${text}`;
}

/**
 * Pretraining rows from a corpus.
 * - `consecutive`: document i (title + text) is the input, document i+1 the next passage.
 * - `first-sentence`: per document, the title plus the first sentence of the body is the input and
 *   the rest of the body the next passage (the body is the text without a leading copy of the title);
 *   documents with nothing after the first sentence are skipped. This is how the trainer golden's
 *   `data.jsonl` was made from Cranfield document 1.
 */
export function beirToPretrainRows(
  docs: readonly BeirDoc[],
  mode: 'consecutive' | 'first-sentence',
): PretrainRow[] {
  if (mode === 'consecutive') return chunksToPretrainRows(docs.map(docPassage));
  const rows: PretrainRow[] = [];
  for (const doc of docs) {
    const title = doc.title.trim();
    let body = doc.text.trim();
    if (title.length > 0 && body.startsWith(title)) body = body.slice(title.length).trim();
    const end = /[.!?]\s+\S/.exec(body);
    if (!end) continue;
    const sentence = body.slice(0, end.index + 1);
    const rest = body.slice(end.index + 1).trim();
    const first = title.length > 0 ? `${title} ${sentence}` : sentence;
    rows.push({ input: first, outputSummarize: first, outputPredict: rest });
  }
  return rows;
}
