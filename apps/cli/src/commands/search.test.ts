import { join } from 'node:path';
import { dot, FlatIndex } from '@llara/index';
import { loadIndex, readNpy, saveIndex } from '@llara/index/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../model-loader.ts';
import { embedderFor } from './embed.ts';
import { DOC_IDS, DOCS, runCli, STORIES, tempDir, writeJsonl } from './test-harness.ts';

const QUERY = 'Where did the dog play?';
let indexDir: string;
let docs: Float32Array;

beforeAll(async () => {
  const dir = tempDir();
  const corpus = writeJsonl(join(dir, 'corpus.jsonl'), DOCS);
  const emb = join(dir, 'emb');
  const e = await runCli(['embed', '--model', STORIES, '--in', corpus, '--out', emb, '--max-len', '64']);
  expect(e.code, e.err).toBe(0);
  indexDir = join(dir, 'idx');
  const b = await runCli(['index', 'build', '--embeddings', emb, '--texts', corpus, '--out', indexDir]);
  expect(b.code, b.err).toBe(0);
  const npy = join(dir, 'docs.npy');
  expect(
    (await runCli(['embed', '--model', STORIES, '--in', corpus, '--out', npy, '--max-len', '64'])).code,
  ).toBe(0);
  docs = (await readNpy(npy)).data as Float32Array;
});

describe('llara search', () => {
  it('ranks the index by inner product with the embedded query, on the GPU and the CPU alike', async () => {
    const loaded = await loadModel({ model: STORIES, recipe: 'flag', quiet: true });
    let q: Float32Array;
    try {
      q = await embedderFor(loaded, 256, 1).embed([QUERY], 'query');
    } finally {
      loaded.close();
    }
    const want = DOC_IDS.map((id, r) => ({ id, score: dot(q, 0, docs, r * 64, 64) }))
      .sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : -1))
      .slice(0, 3);

    const outputs: string[] = [];
    for (const on of ['gpu', 'cpu']) {
      const r = await runCli([
        'search',
        '--index',
        indexDir,
        '--model',
        STORIES,
        '-k',
        '3',
        '--json',
        '--search-on',
        on,
        QUERY,
      ]);
      expect(r.code, r.err).toBe(0);
      expect(r.err).not.toMatch(/searching on the CPU/);
      outputs.push(r.out);
    }
    expect(outputs[1]).toBe(outputs[0]);
    const got = JSON.parse(outputs[0]);
    expect(got.query).toBe(QUERY);
    expect(got.hits.map((h: { id: string }) => h.id)).toEqual(want.map((w) => w.id));
    got.hits.forEach((h: { rank: number; score: number; text: string; id: string }, k: number) => {
      expect(h.rank).toBe(k + 1);
      expect(h.score).toBeCloseTo(want[k].score, 5);
      expect(h.text).toBe(DOCS[DOC_IDS.indexOf(h.id)].text);
    });
  });

  it('prints rank, id, score and text as a table', async () => {
    const r = await runCli(['search', '--index', indexDir, '--model', STORIES, '-k', '5', QUERY]);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^ {2}1 {2}\S+ +-?\d\.\d{4} {2}\S/);
    expect(lines.some((l) => l.includes('Wings: The wing makes lift'))).toBe(true);
  });

  it('refuses an index of another width and a missing index in one sentence', async () => {
    const dir = tempDir();
    const index = new FlatIndex(8);
    index.add(['a'], new Float32Array(8).fill(0.5));
    await saveIndex(join(dir, 'idx8'), index);
    const r = await runCli(['search', '--index', join(dir, 'idx8'), '--model', STORIES, 'query']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /The index .*idx8 holds 8-dimensional vectors but the model .*stories260K embeds into 64 dimensions/,
    );
    const missing = await runCli(['search', '--index', join(dir, 'none'), 'query']);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/No saved index at .*none/);
    expect((await loadIndex(indexDir)).size).toBe(5);
  });

  it('builds an IVF index (--ivf) and searches it approximately, exactly when --nprobe covers every list', async () => {
    const dir = tempDir();
    const ivfDir = join(dir, 'ivf');
    const emb = join(indexDir, '..', 'emb');
    const b = await runCli([
      'index',
      'build',
      '--embeddings',
      emb,
      '--out',
      ivfDir,
      '--ivf',
      '2',
      '--nprobe',
      '1',
    ]);
    expect(b.code, b.err).toBe(0);
    expect(JSON.parse(b.out)).toMatchObject({ count: 5, kind: 'ivf', nlist: 2, nprobe: 1 });
    expect(b.err).toMatch(/training IVF: 2 lists over 5 vectors on the (GPU|CPU)/);
    const search = (index: string, extra: string[]) =>
      runCli(['search', '--index', index, '--model', STORIES, '-k', '5', '--json', ...extra, QUERY]);
    const exact = await search(indexDir, []);
    const all = await search(ivfDir, ['--nprobe', '2']);
    expect(all.code, all.err).toBe(0);
    expect(all.err).toMatch(/approximate search \(IVF, 2 of 2 lists\)/);
    // The exact index also has the texts; ids and scores are the same.
    const idScore = (out: string) =>
      JSON.parse(out).hits.map((h: { id: string; score: number }) => [h.id, h.score]);
    expect(idScore(all.out)).toEqual(idScore(exact.out));
    const one = await search(ivfDir, []);
    expect(one.err).toMatch(/IVF, 1 of 2 lists/);
    expect(JSON.parse(one.out).hits.length).toBeLessThan(5); // one list holds only part of the corpus
    const flat = await search(indexDir, ['--nprobe', '2']);
    expect(flat.code).toBe(1);
    expect(flat.err).toMatch(/--nprobe applies to IVF indexes, and .* is an exact \(flat\) index\./);
    const tooMany = await runCli([
      'index',
      'build',
      '--embeddings',
      emb,
      '--out',
      join(dir, 'x'),
      '--ivf',
      '9',
    ]);
    expect(tooMany.code).toBe(1);
    expect(tooMany.err).toMatch(/--ivf 9 asks for more lists than the 5 vectors to cluster\./);
  });

  it('notes a search with another recipe than the index was embedded with', async () => {
    const r = await runCli([
      'search',
      '--index',
      indexDir,
      '--model',
      STORIES,
      '--recipe',
      'repllama',
      '-k',
      '1',
      'x',
    ]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/was embedded with recipe flag, and this search uses repllama/);
  });
});
