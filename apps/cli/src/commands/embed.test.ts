import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertClose } from '@llara/gpu';
import { readManifest, readNpy, readShards } from '@llara/index/node';
import { Embedder, type Passage } from '@llara/trainer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../model-loader.ts';
import { DOC_IDS, DOCS, runCli, STORIES, tempDir, writeJsonl } from './test-harness.ts';

const H = 64;
let reference: { passage: Float32Array; query: Float32Array };

/** What `Embedder.embed` gives DOCS with the same settings as the commands below. */
beforeAll(async () => {
  const loaded = await loadModel({ model: STORIES, recipe: 'flag', quiet: true });
  try {
    const e = new Embedder(loaded.model, loaded.tokenizer, loaded.recipe, {
      maxLen: 64,
      batchSize: 2,
      baseVocab: loaded.baseVocab,
    });
    const passages: Passage[] = DOCS.map((d) =>
      d.title ? { title: d.title, text: d.text } : { text: d.text },
    );
    reference = {
      passage: await e.embed(passages, 'passage'),
      query: await e.embed(
        DOCS.map((d) => d.text),
        'query',
      ),
    };
  } finally {
    loaded.close();
  }
});

const common = ['--model', STORIES, '--batch', '2', '--max-len', '64'];

function rowOf(all: Float32Array, id: string): Float32Array {
  const r = DOC_IDS.indexOf(id);
  return all.subarray(r * H, (r + 1) * H);
}

async function shardVectors(dir: string): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for await (const s of readShards(dir))
    s.ids.forEach((id, r) => {
      out.set(id, s.vectors.slice(r * H, (r + 1) * H));
    });
  return out;
}

describe('llara embed', () => {
  it('writes one .npy equal to Embedder.embed, with ids from _id, id or the line number', async () => {
    const dir = tempDir();
    const input = writeJsonl(join(dir, 'corpus.jsonl'), DOCS);
    for (const role of ['passage', 'query'] as const) {
      const out = join(dir, `${role}.npy`);
      const r = await runCli(['embed', ...common, '--in', input, '--out', out, '--role', role]);
      expect(r.code, r.err).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ rows: 5, dims: H });
      const npy = await readNpy(out);
      expect(npy.shape).toEqual([5, H]);
      assertClose(npy.data as Float32Array, reference[role], { atol: 1e-6, rtol: 0 });
      expect(JSON.parse(readFileSync(join(dir, `${role}.ids.json`), 'utf8'))).toEqual(DOC_IDS);
    }
  });

  it('resumes a shard directory without redoing written shards, adding only the missing rows', async () => {
    const dir = tempDir();
    const prefix = writeJsonl(join(dir, 'prefix.jsonl'), DOCS.slice(0, 3));
    const full = writeJsonl(join(dir, 'full.jsonl'), DOCS);
    const out = join(dir, 'emb');
    const args = ['embed', ...common, '--out', out, '--shard-rows', '2'];
    const first = await runCli([...args, '--in', prefix]);
    expect(first.code, first.err).toBe(0);
    expect(JSON.parse(first.out)).toMatchObject({ rows: 3, embedded: 3, skipped: 0, shards: 2 });
    const before = await readManifest(out);
    const mtimes = before.shards.map((s) => statSync(join(out, s.file)).mtimeMs);

    const second = await runCli([...args, '--in', full]);
    expect(second.code, second.err).toBe(0);
    expect(JSON.parse(second.out)).toMatchObject({ rows: 5, embedded: 2, skipped: 3, shards: 3 });
    expect(second.err).toMatch(/3 of 5 rows are already embedded and skipped/);
    const after = await readManifest(out);
    expect(after.complete).toBe(true);
    expect(after.shards.slice(0, 2)).toEqual(before.shards);
    expect(before.shards.map((s) => statSync(join(out, s.file)).mtimeMs)).toEqual(mtimes);

    const got = await shardVectors(out);
    expect([...got.keys()].sort()).toEqual([...DOC_IDS].sort());
    for (const id of DOC_IDS)
      assertClose(got.get(id)!, rowOf(reference.passage, id), { atol: 1e-6, rtol: 0 });

    const third = await runCli([...args, '--in', full]);
    expect(JSON.parse(third.out)).toMatchObject({ embedded: 0, skipped: 5, shards: 3 });
  });

  it('continues an interrupted directory (manifest not complete) from its last shard', async () => {
    const dir = tempDir();
    const full = writeJsonl(join(dir, 'full.jsonl'), DOCS);
    const out = join(dir, 'emb');
    const args = ['embed', ...common, '--out', out, '--shard-rows', '2', '--in', full];
    expect((await runCli(args)).code).toBe(0);
    // A crash after the second shard: the third shard and the final manifest never happened.
    const m = await readManifest(out);
    writeFileSync(
      join(out, 'manifest.json'),
      JSON.stringify({ ...m, shards: m.shards.slice(0, 2), complete: false }),
    );
    const r = await runCli(args);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ embedded: 1, skipped: 4, shards: 3 });
    expect((await shardVectors(out)).size).toBe(5);
  });

  it('splits a corpus with --shard i/n: the parts are disjoint and cover it exactly', async () => {
    const dir = tempDir();
    const input = writeJsonl(join(dir, 'corpus.jsonl'), DOCS);
    const parts: Map<string, Float32Array>[] = [];
    for (const i of [0, 1]) {
      const out = join(dir, `emb-${i}of2`);
      const r = await runCli(['embed', ...common, '--in', input, '--out', out, '--shard', `${i}/2`]);
      expect(r.code, r.err).toBe(0);
      parts.push(await shardVectors(out));
    }
    expect([...parts[0].keys()]).toEqual(['d1', '3', 'd5']);
    expect([...parts[1].keys()]).toEqual(['d2', '7']);
    for (const part of parts)
      for (const [id, v] of part) assertClose(v, rowOf(reference.passage, id), { atol: 1e-6, rtol: 0 });
  });

  it('refuses to resume with other settings, and says why in one sentence', async () => {
    const dir = tempDir();
    const input = writeJsonl(join(dir, 'corpus.jsonl'), DOCS.slice(0, 2));
    const out = join(dir, 'emb');
    expect((await runCli(['embed', ...common, '--in', input, '--out', out])).code).toBe(0);
    const r = await runCli(['embed', ...common, '--in', input, '--out', out, '--role', 'query']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/holds embeddings made with --role passage, not query/);
  });

  it('names the file and line of a malformed row, a missing text or a repeated id', async () => {
    const dir = tempDir();
    const cases: [string, RegExp][] = [
      ['{"text": "ok"}\n\n{"text": "broken"\n', /bad\.jsonl line 3 is not valid JSON\./],
      ['{"text": "ok"}\n{"title": "no text"}\n', /bad\.jsonl line 2 has no "text" string\./],
      [
        '{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n',
        /bad\.jsonl line 2 repeats the id "a" of line 1\./,
      ],
    ];
    for (const [text, message] of cases) {
      const file = join(dir, 'bad.jsonl');
      writeFileSync(file, text);
      for (const out of [join(dir, 'x.npy'), join(dir, 'shards')]) {
        const r = await runCli(['embed', ...common, '--in', file, '--out', out]);
        expect(r.code).toBe(1);
        expect(r.err).toMatch(message);
        expect(r.err.trim().split('\n').at(-1)).toMatch(/^llara: /);
      }
    }
    const missing = await runCli(['embed', '--in', join(dir, 'nope.jsonl'), '--out', join(dir, 'y.npy')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/The input file .*nope\.jsonl does not exist\./);
    const shard = await runCli([
      'embed',
      '--in',
      join(dir, 'bad.jsonl'),
      '--out',
      join(dir, 'y.npy'),
      '--shard',
      '2/2',
    ]);
    expect(shard.code).toBe(1);
    expect(shard.err).toMatch(/--shard must be i\/n with 0 <= i < n/);
  });
});
