/**
 * An index remembers the base-weight format its vectors were embedded with (q8/q4/nf4 or full
 * precision), and `llara search` / `llara serve` refuse to embed queries with another one, in one
 * sentence naming both and what to pass, before the model loads. Indexes from before the field
 * still load, with a note.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../src/commands/serve.ts';
import { DOCS, runCli as run, STORIES, tempDir as tmp, writeJsonl } from '../src/commands/test-harness.ts';
import { UserError } from '../src/errors.ts';
import { TEST_LIMITS } from '../src/serve/test-fixture.ts';

/** The last stderr line: the one sentence after any progress output. */
const said = (r: { err: string }) => r.err.trim().split('\n').at(-1);

describe('the base-weight format of an index', () => {
  let dir: string;
  let q4Index: string;
  const search = (index: string, ...more: string[]) =>
    run(['search', '--model', STORIES, '--index', index, '-k', '2', '--json', ...more, 'wings']);
  const embedderJson = (index: string) => join(index, 'embedder.json');

  beforeAll(async () => {
    dir = tmp();
    const corpus = writeJsonl(join(dir, 'corpus.jsonl'), DOCS.slice(0, 2));
    const emb = join(dir, 'emb-q4');
    const e = await run([
      'embed',
      '--model',
      STORIES,
      '--quantize',
      'q4',
      '--in',
      corpus,
      '--out',
      emb,
      '--max-len',
      '64',
    ]);
    expect(e.code, e.err).toBe(0);
    expect(JSON.parse(readFileSync(join(emb, 'run.json'), 'utf8'))).toMatchObject({
      quantize: 'q4',
      base: 'q4',
    });
    q4Index = join(dir, 'index-q4');
    const b = await run(['index', 'build', '--embeddings', emb, '--out', q4Index]);
    expect(b.code, b.err).toBe(0);
  }, 120_000);

  it('is recorded by index build and must match in search', async () => {
    expect(JSON.parse(readFileSync(embedderJson(q4Index), 'utf8'))).toMatchObject({ base: 'q4' });
    const full = await search(q4Index);
    expect(full.code).toBe(1);
    expect(said(full)).toBe(
      `llara: The index ${q4Index} was embedded with a q4-quantized base but this search would use full-precision (f32) weights; pass --quantize q4 (or rebuild the index with this setting).`,
    );
    const nf4 = await search(q4Index, '--quantize', 'nf4');
    expect(nf4.code).toBe(1);
    expect(said(nf4)).toMatch(
      /a q4-quantized base but this search would use an nf4-quantized base; pass --quantize q4 instead of --quantize nf4 /,
    );
    const ok = await search(q4Index, '--quantize', 'q4');
    expect(ok.code, ok.err).toBe(0);
    expect(JSON.parse(ok.out).hits).toHaveLength(2);
  }, 120_000);

  it('refuses a quantized search of a full-precision index, and only notes an index from before the field', async () => {
    const full = join(dir, 'index-f32');
    cpSync(q4Index, full, { recursive: true });
    const info = JSON.parse(readFileSync(embedderJson(full), 'utf8'));
    writeFileSync(embedderJson(full), JSON.stringify({ ...info, base: 'f32' }));
    const q8 = await search(full, '--quantize', 'q8');
    expect(q8.code).toBe(1);
    expect(said(q8)).toMatch(
      /was embedded with full-precision \(f32\) weights but this search would use a q8-quantized base; drop --quantize q8 /,
    );
    const { base: _, ...old } = info;
    writeFileSync(embedderJson(full), JSON.stringify(old));
    const r = await search(full);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(
      /was built before indexes recorded their base-weight format, so its quantization is not checked/,
    );
  }, 120_000);

  it('refuses shard directories of two quantizations in one index, before reading vectors', async () => {
    const other = join(dir, 'emb-f32');
    cpSync(join(dir, 'emb-q4'), other, { recursive: true });
    const runJson = JSON.parse(readFileSync(join(other, 'run.json'), 'utf8'));
    const { quantize: _, ...rest } = runJson;
    writeFileSync(join(other, 'run.json'), JSON.stringify({ ...rest, base: 'f32' }));
    const r = await run([
      'index',
      'build',
      '--embeddings',
      join(dir, 'emb-q4'),
      other,
      '--out',
      join(dir, 'mixed'),
    ]);
    expect(r.code).toBe(1);
    expect(said(r)).toMatch(
      /emb-f32 was embedded with base f32 but .*emb-q4 with q4, so they cannot share one index\.$/,
    );
  });

  it('must match in serve, which takes --quantize', async () => {
    const serve = (quantize?: 'q8') =>
      startServer({
        model: STORIES,
        recipe: 'flag',
        quantize,
        index: q4Index,
        host: '127.0.0.1',
        port: 0,
        limits: TEST_LIMITS,
        log: () => {},
      });
    await expect(serve()).rejects.toThrow(UserError);
    await expect(serve('q8')).rejects.toThrow(
      /a q4-quantized base but this server would use a q8-quantized base; pass --quantize q4 instead of --quantize q8 /,
    );
  });
});
