/**
 * `llara index build`: embeddings (`.npy` + ids, or `llara embed` shard directories, several machines'
 * worth at once) -> a saved index directory (`saveIndex`), exact or IVF-Flat (`--ivf`), optionally with the passages' texts
 * (`texts.jsonl`) so that `llara search` can print them, and the embedding settings (`embedder.json`)
 * so that a search with another recipe is flagged.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fromF16Array, type Gpu, isQuantFormat } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { FlatIndex, IvfIndex, type VectorDType } from '@llara/index';
import { decodeUtf8, readNpy, readShards, saveIndex } from '@llara/index/node';
import type { Command } from 'commander';
import { type BaseFormat, isBaseFormat } from '../base-format.ts';
import { UserError } from '../errors.ts';
import { prepareOutputDir } from '../output-paths.ts';
import { progress } from '../progress.ts';
import { readCorpusRows } from './embed.ts';
import { intFlag } from './options.ts';

/** Passage texts beside a saved index, one `{"id", "title"?, "text"}` per line. */
export const TEXTS_FILE = 'texts.jsonl';
/** The settings the index's vectors were embedded with (from `llara embed`'s run.json). */
export const EMBEDDER_FILE = 'embedder.json';

/** Settings that must agree between the embeddings of one index and the queries searched against it. */
export interface EmbedderInfo {
  model: string;
  adapter: string | null;
  recipe: string;
  maxLen: number;
  dims: number;
  /**
   * The base-weight format the vectors were embedded with (base-format.ts: q8/q4/nf4, or f32/f16/bf16);
   * absent in indexes built before it was recorded, or from embeddings that did not record it.
   */
  base?: BaseFormat;
}

/** Ids from `.json` (an array of strings or numbers) or text (one id per line). */
export async function readIdsFile(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file).then((b) => decodeUtf8(b, file));
  } catch (e) {
    throw new UserError(
      /UTF-8/.test((e as Error).message)
        ? (e as Error).message
        : `The ids file ${file} cannot be read (does it exist?).`,
    );
  }
  if (file.endsWith('.json')) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      throw new UserError(`The ids file ${file} is not valid JSON.`);
    }
    if (!Array.isArray(v) || !v.every((id) => typeof id === 'string' || typeof id === 'number'))
      throw new UserError(`The ids file ${file} must hold a JSON array of strings.`);
    return v.map(String);
  }
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines.at(-1) === '') lines.pop();
  const blank = lines.findIndex((l) => l.trim() === '');
  if (blank >= 0) throw new UserError(`The ids file ${file} has an empty line ${blank + 1}.`);
  return lines;
}

interface Source {
  path: string;
  ids: string[];
  vectors: Float32Array;
  dims: number;
}

async function* npySource(file: string, idsFile: string | undefined): AsyncGenerator<Source> {
  let npy: Awaited<ReturnType<typeof readNpy>>;
  try {
    npy = await readNpy(file);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  if (npy.shape.length !== 2 || npy.shape[1] < 1)
    throw new UserError(`${file} has shape (${npy.shape.join(', ')}), not (rows, dims).`);
  const vectors =
    npy.data instanceof Float32Array
      ? npy.data
      : npy.data instanceof Float64Array
        ? Float32Array.from(npy.data)
        : null;
  if (!vectors) throw new UserError(`${file} holds '${npy.dtype}' values; embeddings must be float32.`);
  const companion = `${file.slice(0, -'.npy'.length)}.ids.json`;
  const from = idsFile ?? companion;
  if (!idsFile && !(await stat(companion).catch(() => null)))
    throw new UserError(`${file} has no ${companion} beside it; pass its ids with --ids.`);
  const ids = await readIdsFile(from);
  if (ids.length !== npy.shape[0])
    throw new UserError(`The ids file ${from} has ${ids.length} ids but ${file} has ${npy.shape[0]} rows.`);
  yield { path: file, ids, vectors, dims: npy.shape[1] };
}

async function* shardSource(dir: string, idsFile: string | undefined): AsyncGenerator<Source> {
  const expected = idsFile ? new Set(await readIdsFile(idsFile)) : null;
  let n = 0;
  try {
    for await (const shard of readShards(dir)) {
      if (expected)
        for (const id of shard.ids)
          if (!expected.has(id))
            throw new UserError(`The ids file ${idsFile} does not list the id "${id}" that ${dir} holds.`);
      n += shard.ids.length;
      const dims = shard.ids.length > 0 ? shard.vectors.length / shard.ids.length : 1;
      yield { path: join(dir, shard.entry.file), ids: shard.ids, vectors: shard.vectors, dims };
    }
  } catch (e) {
    throw e instanceof UserError ? e : new UserError((e as Error).message);
  }
  if (expected && expected.size !== n)
    throw new UserError(`The ids file ${idsFile} has ${expected.size} ids but ${dir} holds ${n} vectors.`);
}

async function embedderInfo(dir: string): Promise<EmbedderInfo | null> {
  const text = await readFile(join(dir, 'run.json'), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const r = JSON.parse(text);
    // Runs made before `base` was recorded but with --quantize still say which format they used.
    const base = isBaseFormat(r.base) ? r.base : isQuantFormat(r.quantize) ? r.quantize : undefined;
    return {
      model: r.model,
      adapter: r.adapter,
      recipe: r.recipe,
      maxLen: r.maxLen,
      dims: r.dims,
      ...(base ? { base } : {}),
    };
  } catch {
    return null;
  }
}

/**
 * The embedding settings the shard directories among `paths` agree on (null when none recorded any),
 * read before any vector so that a mix of models, recipes or quantizations fails before the work.
 */
async function sharedEmbedderInfo(paths: readonly string[]): Promise<EmbedderInfo | null> {
  const infos: { path: string; info: EmbedderInfo }[] = [];
  for (const path of paths) {
    if (!(await stat(path).catch(() => null))?.isDirectory()) continue;
    const info = await embedderInfo(path);
    if (info) infos.push({ path, info });
  }
  const first = infos[0];
  if (!first) return null;
  for (const { path, info } of infos.slice(1))
    for (const key of ['model', 'adapter', 'recipe', 'maxLen'] as const)
      if (info[key] !== first.info[key])
        throw new UserError(
          `${path} was embedded with ${key} ${info[key]} but ${first.path} with ${first.info[key]}, so they cannot share one index.`,
        );
  // f32, f16 and bf16 are one setting (full precision); q8, q4 and nf4 each another.
  const quantized = (b: BaseFormat | undefined) => (b && isQuantFormat(b) ? b : 'full precision');
  const withBase = infos.filter(({ info }) => info.base);
  for (const { path, info } of withBase.slice(1))
    if (quantized(info.base) !== quantized(withBase[0].info.base))
      throw new UserError(
        `${path} was embedded with base ${info.base} but ${withBase[0].path} with ${withBase[0].info.base}, so they cannot share one index.`,
      );
  // The index's base is known only when every part recorded one.
  const { base: _, ...rest } = first.info;
  return withBase.length === infos.length ? first.info : rest;
}

/** The texts of the index's ids from a corpus JSONL, as texts.jsonl content, and how many ids had one. */
async function textsOf(
  corpus: string,
  ids: ReadonlySet<string>,
): Promise<{ content: string; count: number }> {
  const lines: string[] = [];
  for await (const row of readCorpusRows(corpus)) {
    if (!ids.has(row.id)) continue;
    lines.push(
      JSON.stringify(
        row.title === undefined
          ? { id: row.id, text: row.text }
          : { id: row.id, title: row.title, text: row.text },
      ),
    );
  }
  return { content: lines.length ? `${lines.join('\n')}\n` : '', count: lines.length };
}

/**
 * Every input and the output checked before any work: a mistake must not cost the index already at
 * --out (the new one is built beside it and swapped in only when complete).
 */
async function checkBuildInputs(f: BuildFlags): Promise<void> {
  for (const path of f.embeddings) {
    const st = await stat(path).catch(() => null);
    if (!st) throw new UserError(`The embeddings path ${path} does not exist.`);
    if (!st.isDirectory() && !path.endsWith('.npy'))
      throw new UserError(`The embeddings path ${path} is neither a .npy file nor a shard directory.`);
  }
  if (f.texts) {
    const st = await stat(f.texts).catch(() => null);
    if (!st) throw new UserError(`The texts file ${f.texts} does not exist.`);
    if (!st.isFile()) throw new UserError(`The texts file ${f.texts} is not a file.`);
  }
  if (f.ids) {
    const st = await stat(f.ids).catch(() => null);
    if (!st?.isFile()) throw new UserError(`The ids file ${f.ids} does not exist or is not a file.`);
  }
  const out = await stat(f.out).catch(() => null);
  if (out && !out.isDirectory())
    throw new UserError(`--out ${f.out} is a file; give a folder for the index.`);
  if (out) {
    const names = await readdir(f.out);
    if (names.length > 0 && !names.includes('index.json'))
      throw new UserError(
        `--out ${f.out} is a folder that holds something other than an index; choose a new or empty folder.`,
      );
  }
  // The new index is written beside --out and renamed into place, so that folder must be writable.
  await prepareOutputDir(dirname(resolve(f.out)), '--out');
}

interface BuildFlags {
  embeddings: string[];
  ids?: string;
  out: string;
  dtype: string;
  texts?: string;
  ivf?: number;
  nprobe: number;
  seed: number;
}

/**
 * The flat index's vectors as an IVF index of `nlist` lists: k-means with its assignment step on the
 * GPU when there is one (the same lists as on the CPU, faster), else on the CPU.
 */
async function toIvf(flat: FlatIndex, f: BuildFlags & { ivf: number }): Promise<IvfIndex> {
  if (f.ivf > flat.size)
    throw new UserError(`--ivf ${f.ivf} asks for more lists than the ${flat.size} vectors to cluster.`);
  const raw = flat.store.raw();
  const vectors = raw instanceof Float32Array ? raw : fromF16Array(raw);
  const maxIterations = 20;
  const bar = progress('k-means', maxIterations, 'iterations');
  const options = {
    nlist: f.ivf,
    nprobe: Math.min(f.nprobe, f.ivf),
    dtype: flat.dtype,
    seed: f.seed,
    iterations: maxIterations,
    onIteration: (p: { iteration: number; changed: number }) => bar.update(p.iteration, { moved: p.changed }),
  };
  const started = performance.now();
  let gpu: Gpu | null = null;
  try {
    gpu = await requestNodeGpu();
  } catch (e) {
    process.stderr.write(`note: clustering on the CPU (${(e as Error).message})\n`);
  }
  process.stderr.write(
    `training IVF: ${f.ivf} lists over ${flat.size} vectors on the ${gpu ? 'GPU' : 'CPU'}\n`,
  );
  try {
    const ivf = gpu
      ? await IvfIndex.buildOnGpu(gpu, flat.ids, vectors, flat.dims, options)
      : IvfIndex.build(flat.ids, vectors, flat.dims, options);
    bar.stop();
    const sizes = ivf.listSizes();
    process.stderr.write(
      `IVF trained in ${((performance.now() - started) / 1000).toFixed(1)} s: lists of ${Math.min(...sizes)} to ${Math.max(...sizes)} vectors\n`,
    );
    return ivf;
  } finally {
    gpu?.destroy();
  }
}

export function registerIndexBuild(program: Command): void {
  const index =
    program.commands.find((c) => c.name() === 'index') ??
    program.command('index').description('Build vector indexes from embeddings.');
  index
    .command('build')
    .description(
      'Build an inner-product index directory (exact, or IVF with --ivf) from .npy embeddings or `llara embed` shard directories.',
    )
    .requiredOption(
      '--embeddings <paths...>',
      'FILE.npy (ids from FILE.ids.json or --ids) and/or shard directories',
    )
    .option(
      '--ids <file>',
      'ids of a single .npy (ids.json, or .txt with one id per line); with a shard directory, checked against it',
    )
    .requiredOption('--out <dir>', 'index directory to write (replaces an earlier index there)')
    .option('--dtype <dtype>', 'f32 | f16 storage', 'f32')
    .option('--texts <file>', 'corpus JSONL whose texts `llara search` prints beside the hits')
    .option(
      '--ivf <nlist>',
      'build an approximate IVF-Flat index of this many lists (k-means on the GPU when there is one)',
      intFlag('--ivf', 1),
    )
    .option(
      '--nprobe <n>',
      'IVF: lists a search scans unless `llara search --nprobe` says otherwise',
      intFlag('--nprobe', 1),
      8,
    )
    .option('--seed <n>', 'IVF: k-means seed', intFlag('--seed', 0), 0)
    .addHelpText(
      'after',
      '\nExample:\n  pnpm llara index build --embeddings emb/ --texts corpus.jsonl --out index/\n  pnpm llara index build --embeddings emb-0of2/ emb-1of2/ --out index/ --dtype f16\n  pnpm llara index build --embeddings emb/ --out ivf-index/ --ivf 1024 --nprobe 32',
    )
    .action(async (f: BuildFlags) => {
      if (f.dtype !== 'f32' && f.dtype !== 'f16')
        throw new UserError(`--dtype must be f32 or f16, got "${f.dtype}".`);
      if (f.ids && f.embeddings.length > 1)
        throw new UserError(
          '--ids can go with a single --embeddings path only (each .npy may have its FILE.ids.json).',
        );
      await checkBuildInputs(f);
      const embedder = await sharedEmbedderInfo(f.embeddings);
      let built: FlatIndex | null = null;
      for (const path of f.embeddings) {
        const st = await stat(path).catch(() => null);
        if (!st) throw new UserError(`The embeddings path ${path} does not exist.`);
        let source: AsyncGenerator<Source>;
        if (st.isDirectory()) source = shardSource(path, f.ids);
        else if (path.endsWith('.npy')) source = npySource(path, f.ids);
        else throw new UserError(`The embeddings path ${path} is neither a .npy file nor a shard directory.`);
        for await (const s of source) {
          if (s.ids.length === 0) continue;
          built ??= new FlatIndex(s.dims, { dtype: f.dtype as VectorDType });
          if (s.dims !== built.dims)
            throw new UserError(
              `${s.path} holds ${s.dims}-dimensional vectors but earlier embeddings have ${built.dims}.`,
            );
          try {
            built.add(s.ids, s.vectors);
          } catch (e) {
            throw new UserError(`${s.path}: ${(e as Error).message}`);
          }
        }
      }
      if (!built) throw new UserError(`${f.embeddings.join(', ')} hold no vectors.`);
      const extraFiles: Record<string, string> = {};
      if (embedder) extraFiles[EMBEDDER_FILE] = `${JSON.stringify(embedder, null, 2)}\n`;
      let texts: number | undefined;
      if (f.texts) {
        const t = await textsOf(f.texts, new Set(built.ids));
        extraFiles[TEXTS_FILE] = t.content;
        texts = t.count;
        if (texts < built.size)
          process.stderr.write(`note: ${f.texts} has texts for ${texts} of the ${built.size} ids\n`);
      }
      const saved = f.ivf === undefined ? built : await toIvf(built, { ...f, ivf: f.ivf });
      try {
        await saveIndex(f.out, saved, { extraFiles });
      } catch (e) {
        throw new UserError((e as Error).message);
      }
      console.log(
        JSON.stringify({
          out: f.out,
          count: built.size,
          dims: built.dims,
          dtype: built.dtype,
          ...(saved instanceof IvfIndex
            ? { kind: 'ivf', nlist: saved.nlist, nprobe: saved.nprobe }
            : { kind: 'flat' }),
          ...(texts !== undefined ? { texts } : {}),
        }),
      );
    });
}
