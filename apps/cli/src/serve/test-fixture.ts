/**
 * Test support for the service's tests: a small Cranfield subset embedded with `llara embed` (the
 * reference every served embedding must equal bit for bit), indexed exactly and with IVF by
 * `llara index build`, all in a temp folder. Imported by tests only.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy } from '@llara/index/node';
import { DATA, runCli, STORIES, tempDir, writeJsonl } from '../commands/test-harness.ts';
import { DEFAULT_LIMITS, type ServeLimits } from './limits.ts';

export { STORIES };

export interface Doc {
  _id: string;
  title: string;
  text: string;
}

export interface Fixture {
  dir: string;
  docs: Doc[];
  queries: { _id: string; text: string }[];
  /** `llara embed` rows, [n, 64], in file order. */
  passages: Float32Array;
  queryRows: Float32Array;
  flatIndex: string;
  ivfIndex: string;
  maxLen: number;
}

/** Limits small enough for tests to reach, with the max length the fixture was embedded with. */
export const TEST_LIMITS: ServeLimits = {
  ...DEFAULT_LIMITS,
  maxLen: 128,
  maxInputs: 8,
  maxInputChars: 3000,
  maxBodyBytes: 48 * 1024,
  maxK: 50,
};

const firstLines = (file: string, n: number) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(0, n)
    .map((l) => JSON.parse(l));

async function cli(args: string[]): Promise<void> {
  const r = await runCli(args);
  if (r.code !== 0) throw new Error(`llara ${args.join(' ')} failed: ${r.err}`);
}

export async function buildFixture(docCount = 24, queryCount = 8): Promise<Fixture> {
  const dir = tempDir();
  const docs = firstLines(join(DATA, 'cranfield/corpus.jsonl'), docCount) as Doc[];
  const queries = firstLines(join(DATA, 'cranfield/queries.jsonl'), queryCount);
  const corpus = writeJsonl(join(dir, 'corpus.jsonl'), docs);
  const qfile = writeJsonl(join(dir, 'queries.jsonl'), queries);
  const common = ['--model', STORIES, '--max-len', String(TEST_LIMITS.maxLen), '--batch', '5'];
  await cli(['embed', ...common, '--in', corpus, '--out', join(dir, 'passages.npy')]);
  await cli(['embed', ...common, '--role', 'query', '--in', qfile, '--out', join(dir, 'queries.npy')]);
  const flatIndex = join(dir, 'index-flat');
  const ivfIndex = join(dir, 'index-ivf');
  const build = ['index', 'build', '--embeddings', join(dir, 'passages.npy'), '--texts', corpus];
  await cli([...build, '--out', flatIndex]);
  await cli([...build, '--out', ivfIndex, '--ivf', '4', '--nprobe', '2']);
  return {
    dir,
    docs,
    queries,
    passages: (await readNpy(join(dir, 'passages.npy'))).data as Float32Array,
    queryRows: (await readNpy(join(dir, 'queries.npy'))).data as Float32Array,
    flatIndex,
    ivfIndex,
    maxLen: TEST_LIMITS.maxLen,
  };
}

/** The exact bytes of a float32 row (bit-for-bit comparisons). */
export const bytes = (v: Float32Array): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
