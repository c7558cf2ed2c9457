/**
 * `llara embed`: a JSONL corpus -> L2-normalised embeddings, either one `.npy` (+ ids) or a directory of
 * shards that survives crashes and Ctrl-C: shards already written are never redone, and rerunning the
 * same command continues where the last run stopped (or adds the rows a grown corpus gained).
 * `--shard i/n` takes rows whose index % n == i, so n machines split one corpus and each writes its own
 * directory; `llara index build` reads them all.
 */
import { createHash } from 'node:crypto';
import { appendFile, readFile, rm, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { QuantFormat } from '@llara/gpu';
import {
  MANIFEST_FILE,
  readManifest,
  readUtf8Lines,
  ShardWriter,
  writeFileAtomic,
  writeNpy,
} from '@llara/index/node';
import { Embedder, type Passage, type Role } from '@llara/trainer';
import { type Command, InvalidArgumentError } from 'commander';
import { type BaseFormat, baseFormat } from '../base-format.ts';
import { UserError } from '../errors.ts';
import { checkMaxLen } from '../max-len.ts';
import { type LoadedModel, loadModel } from '../model-loader.ts';
import { prepareOutputDir, prepareOutputFile, samePath } from '../output-paths.ts';
import { progress } from '../progress.ts';
import { quantizeOption } from '../quantize-option.ts';
import { intFlag } from './options.ts';

/** One corpus row: `{"text"}` or `{"title", "text"}`, with `_id`/`id` or else its line number as id. */
export interface CorpusRow {
  id: string;
  title?: string;
  text: string;
  /** 0-based index among the file's non-blank lines (what `--shard i/n` splits on). */
  index: number;
  /** 1-based line number in the file. */
  line: number;
  /** True when the row has no id and `id` is its line number. */
  idFromLine?: boolean;
}

/** Parses one JSONL line of a corpus; a bad line is one sentence naming the file and line. */
export function parseCorpusLine(text: string, file: string, line: number, index: number): CorpusRow {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new UserError(`${file} line ${line} is not valid JSON.`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new UserError(`${file} line ${line} is not a JSON object like {"text": "..."}.`);
  const o = v as Record<string, unknown>;
  if (typeof o.text !== 'string') throw new UserError(`${file} line ${line} has no "text" string.`);
  if (o.title !== undefined && o.title !== null && typeof o.title !== 'string')
    throw new UserError(`${file} line ${line} has a "title" that is not a string.`);
  const rawId = o._id ?? o.id;
  if (rawId !== undefined && typeof rawId !== 'string' && typeof rawId !== 'number')
    throw new UserError(`${file} line ${line} has an "_id"/"id" that is neither a string nor a number.`);
  const id = rawId === undefined ? String(line) : String(rawId);
  if (id.length === 0) throw new UserError(`${file} line ${line} has an empty id.`);
  const row: CorpusRow = { id, text: o.text, index, line };
  if (rawId === undefined) row.idFromLine = true;
  if (typeof o.title === 'string') row.title = o.title;
  return row;
}

async function requireFile(file: string, what: string): Promise<void> {
  const st = await stat(file).catch(() => null);
  if (!st) throw new UserError(`The ${what} ${file} does not exist.`);
  if (!st.isFile()) throw new UserError(`The ${what} ${file} is not a file.`);
}

/** The rows of a JSONL corpus, streamed (blank lines skipped, a BOM dropped, non-UTF-8 bytes refused by line). */
export async function* readCorpusRows(file: string): AsyncGenerator<CorpusRow> {
  await requireFile(file, 'input file');
  let index = 0;
  const lines = readUtf8Lines(file);
  for (;;) {
    let next: IteratorResult<{ text: string; line: number }>;
    try {
      next = await lines.next();
    } catch (e) {
      throw new UserError((e as Error).message);
    }
    if (next.done) return;
    const { text, line } = next.value;
    if (text.trim() === '') continue;
    yield parseCorpusLine(text, file, line, index++);
  }
}

/**
 * Refuses a repeated id in one sentence; a row without an id takes its line number, which can collide
 * with a row whose id is that number, so the message says which of the two came from a position.
 */
export function idChecker(file: string): (row: CorpusRow) => void {
  const seen = new Map<string, CorpusRow>();
  return (row) => {
    const first = seen.get(row.id);
    if (first === undefined) {
      seen.set(row.id, { ...row, text: '', title: undefined });
      return;
    }
    if (row.idFromLine)
      throw new UserError(
        `${file} line ${row.line} has no id, so it gets its line number "${row.id}", which line ${first.line} already uses as its id.`,
      );
    if (first.idFromLine)
      throw new UserError(
        `${file} line ${row.line} repeats the id "${row.id}" given to line ${first.line} by its position.`,
      );
    throw new UserError(`${file} line ${row.line} repeats the id "${row.id}" of line ${first.line}.`);
  };
}

/** `--shard i/n`. */
export function parseShardFlag(v: string): { i: number; n: number } {
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  const i = m ? Number(m[1]) : Number.NaN;
  const n = m ? Number(m[2]) : Number.NaN;
  if (!m || n < 1 || i >= n)
    throw new InvalidArgumentError(`--shard must be i/n with 0 <= i < n (e.g. 0/4), got "${v}".`);
  return { i, n };
}

/** The embedder for a loaded model (`loaded.baseVocab` already tells merged exports apart). */
export function embedderFor(loaded: LoadedModel, maxLen: number, batch: number): Embedder {
  return new Embedder(loaded.model, loaded.tokenizer, loaded.recipe, {
    maxLen,
    batchSize: batch,
    baseVocab: loaded.baseVocab,
  });
}

const item = (row: CorpusRow, role: Role): Passage | string =>
  role === 'query'
    ? row.text
    : row.title !== undefined
      ? { title: row.title, text: row.text }
      : { text: row.text };

/** The settings a shard directory was made with (`run.json`): a resumed run must use the same. */
interface RunInfo {
  format: 'llara-embed-run';
  version: 1;
  model: string;
  adapter: string | null;
  recipe: string;
  role: Role;
  maxLen: number;
  shard: string | null;
  dims: number;
  /** Absent for a full-precision base (so runs made before --quantize existed still resume). */
  quantize?: QuantFormat;
  /** The base-weight format the model ran in (base-format.ts); absent in runs made before it was recorded. */
  base?: BaseFormat;
}

const RUN_FILE = 'run.json';
/** `[id, hash of the row's title and text]` per line, for every row embedded into the directory. */
const INPUTS_FILE = 'inputs.jsonl';

/** What an embedding depends on in a row (its id is the key, its line may move). */
function inputHash(row: CorpusRow): string {
  return createHash('sha256')
    .update(JSON.stringify([row.title ?? null, row.text]))
    .digest('hex')
    .slice(0, 16);
}

/** The hashes of rows embedded so far (the last line wins; a torn last line from a crash is skipped). */
async function readInputHashes(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const text = await readFile(join(dir, INPUTS_FILE), 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    try {
      const [id, hash] = JSON.parse(line) as [unknown, unknown];
      if (typeof id === 'string' && typeof hash === 'string') out.set(id, hash);
    } catch {}
  }
  return out;
}

const FLAG_OF: Record<string, string> = {
  model: '--model',
  adapter: '--adapter',
  recipe: '--recipe',
  role: '--role',
  maxLen: '--max-len',
  shard: '--shard',
  dims: '--model',
  quantize: '--quantize',
};

/** Refuses to resume a directory made with other settings (a silent mix of two models is worse than an error). */
async function checkRunInfo(dir: string, info: RunInfo): Promise<void> {
  const file = join(dir, RUN_FILE);
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return;
  let old: Partial<RunInfo>;
  try {
    old = JSON.parse(text);
  } catch {
    throw new UserError(`${file} is not valid JSON; remove it or choose another --out.`);
  }
  for (const key of Object.keys(FLAG_OF) as (keyof RunInfo)[]) {
    if (old[key] !== info[key])
      throw new UserError(
        `${dir} holds embeddings made with ${FLAG_OF[key]} ${old[key] ?? '(none)'}, not ${info[key] ?? '(none)'}; rerun with the same settings, pass --no-resume to start over, or choose another --out.`,
      );
  }
}

interface EmbedFlags {
  model?: string;
  quantize?: QuantFormat;
  adapter?: string;
  recipe: string;
  role: string;
  in: string;
  out: string;
  batch: number;
  maxLen: number;
  shard?: { i: number; n: number };
  shardRows: number;
  resume: boolean;
}

export function registerEmbed(program: Command): void {
  program
    .command('embed')
    .description(
      'Embed a JSONL corpus ({"text"} or {"title","text"}, optional "_id"/"id") into one .npy or a resumable directory of shards.',
    )
    .requiredOption('--in <file>', 'JSONL input, one row per line')
    .requiredOption(
      '--out <path>',
      'FILE.npy (float32 [n, hidden] + FILE.ids.json), or a directory of shards (resumable)',
    )
    .option('--role <role>', 'query | passage (which prompt the recipe wraps the text in)', 'passage')
    .option('--model <dir>', 'HF LLaMA model folder (default: bundled stories260K)')
    .option('--adapter <dir>', 'PEFT LoRA adapter folder')
    .addOption(quantizeOption())
    .option('--recipe <name>', 'flag | paper | repllama', 'flag')
    .option('--batch <n>', 'sequences per forward pass', intFlag('--batch', 1), 32)
    .option('--max-len <n>', 'longest sequence, prompt included', intFlag('--max-len', 8), 256)
    .option(
      '--shard <i/n>',
      'embed only rows whose index % n == i (split a corpus over n machines)',
      parseShardFlag,
    )
    .option('--shard-rows <n>', 'rows per output shard (directory output)', intFlag('--shard-rows', 1), 16384)
    .option('--no-resume', 'start the directory over instead of continuing it')
    .addHelpText(
      'after',
      '\nExample:\n  pnpm llara embed --in corpus.jsonl --out emb/ --adapter adapter/ --role passage\n  pnpm llara embed --in corpus.jsonl --out emb-1of4/ --shard 1/4',
    )
    .action(async (f: EmbedFlags) => {
      if (f.role !== 'query' && f.role !== 'passage')
        throw new UserError(`--role must be query or passage, got "${f.role}".`);
      await requireFile(f.in, 'input file');
      const toNpy = /\.npy$/i.test(f.out);
      await checkEmbedOut(f, toNpy);
      const loaded = await loadModel({
        model: f.model,
        adapter: f.adapter,
        recipe: f.recipe,
        quantize: f.quantize,
      });
      try {
        checkMaxLen(loaded, f.maxLen, [f.role]);
        if (toNpy) await embedToNpy(loaded, f, f.role);
        else await embedToShards(loaded, f, f.role);
      } finally {
        loaded.close();
      }
    });
}

/** Names that look like a file, which a shard directory would be surprising under. */
const FILE_LIKE = /\.(txt|json|jsonl|csv|tsv|npz|bin|safetensors|pt|pkl|parquet|h5|fvecs|md)$/i;

/** The output of `embed`, checked before the model loads: its kind, writable, and not the input. */
async function checkEmbedOut(f: EmbedFlags, toNpy: boolean): Promise<void> {
  if (await samePath(f.in, f.out))
    throw new UserError(`--out ${f.out} is the input file --in; choose another path.`);
  if (toNpy) {
    await prepareOutputFile(f.out, '--out');
    await prepareOutputFile(idsFileOf(f.out), '--out');
    return;
  }
  const st = await stat(f.out).catch(() => null);
  if (st && !st.isDirectory())
    throw new UserError(`--out ${f.out} is a file; give a directory for shards or a path ending in .npy.`);
  if (!st && FILE_LIKE.test(basename(f.out)))
    throw new UserError(
      `--out ${f.out} looks like a file name, but embed writes a .npy file or a directory of shards; end it in .npy, or drop the extension for a directory.`,
    );
  await prepareOutputDir(f.out, '--out');
}

const idsFileOf = (npy: string) => `${npy.slice(0, -'.npy'.length)}.ids.json`;

const selected = (row: CorpusRow, shard?: { i: number; n: number }) =>
  !shard || row.index % shard.n === shard.i;

async function embedToNpy(loaded: LoadedModel, f: EmbedFlags, role: Role): Promise<void> {
  const rows: CorpusRow[] = [];
  const checkId = idChecker(f.in);
  for await (const row of readCorpusRows(f.in)) {
    if (!selected(row, f.shard)) continue;
    checkId(row);
    rows.push(row);
  }
  if (rows.length === 0)
    throw new UserError(`${f.in} has no rows to embed${f.shard ? ' in this --shard' : ''}.`);
  const embedder = embedderFor(loaded, f.maxLen, f.batch);
  const bar = progress(`embed ${role}s`, rows.length, `${role}s`);
  const vectors = await embedder.embed(
    rows.map((r) => item(r, role)),
    role,
    (p) => bar.update(p.done),
  );
  bar.stop();
  const idsFile = idsFileOf(f.out);
  await writeNpy(f.out, { dtype: 'f4', shape: [rows.length, embedder.dim], data: vectors });
  await writeFileAtomic(idsFile, JSON.stringify(rows.map((r) => r.id)));
  console.log(JSON.stringify({ out: f.out, ids: idsFile, rows: rows.length, dims: embedder.dim }));
}

async function embedToShards(loaded: LoadedModel, f: EmbedFlags, role: Role): Promise<void> {
  const dims = loaded.model.shape.hiddenSize;
  const info: RunInfo = {
    format: 'llara-embed-run',
    version: 1,
    model: resolve(loaded.opened.files.location),
    adapter: f.adapter ? resolve(f.adapter) : null,
    recipe: loaded.recipe.name,
    role,
    maxLen: f.maxLen,
    shard: f.shard ? `${f.shard.i}/${f.shard.n}` : null,
    dims,
    ...(f.quantize ? { quantize: f.quantize } : {}),
    base: baseFormat(loaded.opened, f.quantize),
  };
  const fail = (e: unknown): never => {
    throw new UserError((e as Error).message);
  };
  if (f.resume) await checkRunInfo(f.out, info);
  else await rm(join(f.out, INPUTS_FILE), { force: true });
  const embedded = f.resume ? await readInputHashes(f.out) : new Map<string, string>();

  // First pass, before anything is written: every line is checked (a bad line fails now, not hours in),
  // rows embedded earlier must still have the text they were embedded from, and the work is counted.
  const ids: string[] = [];
  const checkId = idChecker(f.in);
  for await (const row of readCorpusRows(f.in)) {
    if (!selected(row, f.shard)) continue;
    checkId(row);
    const before = embedded.get(row.id);
    if (before !== undefined && before !== inputHash(row))
      throw new UserError(
        `${f.in} line ${row.line} (id "${row.id}") is not the text that ${f.out} embedded for that id; pass --no-resume to embed everything again, or choose another --out.`,
      );
    ids.push(row.id);
  }
  const total = ids.length;

  if (f.resume) {
    // A finished directory is reopened so that rows a grown corpus gained are added after its shards.
    const old = await readManifest(f.out).catch(() => null);
    if (old?.complete)
      await writeFileAtomic(
        join(f.out, MANIFEST_FILE),
        `${JSON.stringify({ ...old, complete: false }, null, 2)}\n`,
      );
  }
  const writer = await ShardWriter.open(f.out, { dims, shardRows: f.shardRows, resume: f.resume }).catch(
    fail,
  );
  await writeFileAtomic(join(f.out, RUN_FILE), `${JSON.stringify(info, null, 2)}\n`);
  const skipped = ids.filter((id) => writer.has(id)).length;
  ids.length = 0;
  if (skipped > 0)
    process.stderr.write(`resuming ${f.out}: ${skipped} of ${total} rows are already embedded and skipped\n`);

  const embedder = embedderFor(loaded, f.maxLen, f.batch);
  const todo = total - skipped;
  const bar = progress(`embed ${role}s`, todo, `${role}s`);
  let done = 0;
  const onSigint = () => {
    process.stderr.write(
      `\ninterrupted: ${writer.rowsWritten} rows are saved in ${f.out}; run the same command again to continue.\n`,
    );
    process.exit(130);
  };
  process.on('SIGINT', onSigint);
  try {
    // Each chunk becomes one shard; Embedder sorts it by length so batches pad little.
    let chunk: CorpusRow[] = [];
    const flush = async () => {
      const vectors = await embedder.embed(
        chunk.map((r) => item(r, role)),
        role,
        (p) => bar.update(done + p.done),
      );
      // Hashes go first: a crash before the shard leaves hashes of rows that are simply embedded again.
      await appendFile(
        join(f.out, INPUTS_FILE),
        chunk.map((r) => `${JSON.stringify([r.id, inputHash(r)])}\n`).join(''),
      );
      await writer.add(
        chunk.map((r) => r.id),
        vectors,
      );
      done += chunk.length;
      chunk = [];
    };
    for await (const row of readCorpusRows(f.in)) {
      if (!selected(row, f.shard) || writer.has(row.id)) continue;
      chunk.push(row);
      if (chunk.length === f.shardRows) await flush();
    }
    if (chunk.length > 0) await flush();
    const manifest = await writer.finish();
    bar.stop();
    console.log(
      JSON.stringify({
        out: f.out,
        rows: total,
        embedded: done,
        skipped,
        shards: manifest.shards.length,
        dims,
      }),
    );
  } finally {
    process.off('SIGINT', onSigint);
  }
}
