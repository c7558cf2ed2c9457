/**
 * Everyday mistakes (issue 22) get exit 1 and one sentence before any work, never a stack trace or a
 * quietly wrong result: too short --max-len, a dropout of 1, unwritable outputs, a byte-order mark,
 * qrels that judge nothing, silently odd settings, and usage errors.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeNpy } from '@llara/index/node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  DATA,
  DOCS,
  runCli as run,
  STORIES,
  tempDir as tmp,
  writeJsonl,
} from '../src/commands/test-harness.ts';

const GOLDEN = `${DATA}goldens/llara-flag-stories260K`;
afterEach(() => vi.restoreAllMocks());

/** The last stderr line: the one sentence after any progress output. */
const said = (r: { err: string }) => r.err.trim().split('\n').at(-1);

describe('--max-len too short for the prompt', () => {
  it('is one sentence with the prompt length in embed, search, eval and pretrain, before anything is written', async () => {
    const dir = tmp();
    const input = writeJsonl(join(dir, 'corpus.jsonl'), DOCS);
    const emb = await run([
      'embed',
      '--model',
      STORIES,
      '--in',
      input,
      '--out',
      join(dir, 'emb'),
      '--max-len',
      '8',
    ]);
    expect(emb.code).toBe(1);
    expect(said(emb)).toMatch(
      /^llara: --max-len 8 leaves no room for the passage text: the flag prompt alone takes \d+ tokens\.$/,
    );
    expect(existsSync(join(dir, 'emb', 'manifest.json'))).toBe(false);
    const out = join(dir, 'pt');
    const pt = await run([
      'pretrain',
      '--model',
      STORIES,
      '--data',
      `${GOLDEN}/data.jsonl`,
      '--out',
      out,
      '--max-len',
      '8',
    ]);
    expect(pt.code).toBe(1);
    expect(said(pt)).toMatch(
      /^llara: --max-len 8 leaves no room for the input text: the flag prompt alone takes \d+ tokens\.$/,
    );
    expect(existsSync(join(out, 'metrics.jsonl'))).toBe(false);
    const ev = await run(['eval', '--model', STORIES, '--max-len', '8']);
    expect(ev.code).toBe(1);
    expect(said(ev)).toMatch(/--max-len 8 leaves no room for the query text/);
    const npy = join(dir, 'v.npy');
    await writeNpy(npy, { dtype: 'f4', shape: [2, 64], data: new Float32Array(128).fill(0.1) });
    writeFileSync(join(dir, 'v.ids.json'), '["a", "b"]');
    expect((await run(['index', 'build', '--embeddings', npy, '--out', join(dir, 'index')])).code).toBe(0);
    const se = await run([
      'search',
      '--model',
      STORIES,
      '--index',
      join(dir, 'index'),
      '--max-len',
      '8',
      'wings',
    ]);
    expect(se.code).toBe(1);
    expect(said(se)).toMatch(
      /^llara: --max-len 8 leaves no room for the query text: the flag prompt alone takes \d+ tokens\.$/,
    );
  });
});

describe('flags checked before the model loads', () => {
  it('takes a LoRA dropout in [0, 1) and a temperature > 0', async () => {
    const dir = tmp();
    for (const p of ['1.5', '1', '-0.1']) {
      const r = await run([
        'pretrain',
        '--data',
        `${GOLDEN}/data.jsonl`,
        '--out',
        join(dir, 'o'),
        '--lora-dropout',
        p,
      ]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(new RegExp(`--lora-dropout must be a number in \\[0, 1\\), got "${p}"\\.`));
      expect(r.err).toMatch(/\(see `llara pretrain --help`\)/);
      expect(r.err).not.toMatch(/Usage:/);
    }
    const tau = await run(['finetune', '--data', 'x.jsonl', '--out', join(dir, 'o'), '--tau', '0']);
    expect(tau.err).toMatch(/--tau must be a number > 0, got "0"\./);
    const missing = await run(['embed', '--in', 'x.jsonl']);
    expect(missing.code).toBe(1);
    expect(missing.err.trim().split('\n')).toEqual([
      "error: required option '--out <path>' not specified",
      '(see `llara embed --help`)',
    ]);
  });
});

describe('output locations', () => {
  it('creates a missing parent folder, and names an unusable output path in a sentence', async () => {
    const dir = tmp();
    const input = writeJsonl(join(dir, 'corpus.jsonl'), DOCS);
    const nested = join(dir, 'a', 'b', 'emb.npy');
    const ok = await run(['embed', '--model', STORIES, '--max-len', '64', '--in', input, '--out', nested]);
    expect(ok.code, ok.err).toBe(0);
    expect(existsSync(join(dir, 'a', 'b', 'emb.ids.json'))).toBe(true);

    const underFile = join(input, 'x.npy');
    const npy = await run(['embed', '--model', STORIES, '--in', input, '--out', underFile]);
    expect(npy.code).toBe(1);
    expect(npy.err.trim()).toBe(
      `llara: --out ${underFile} cannot be written (${input} is a file, not a folder).`,
    );
    writeFileSync(join(dir, 'ids.json'), '[[1, 403]]');
    const hidden = await run(['hidden', '--ids', join(dir, 'ids.json'), '--out', dir]);
    expect(hidden.err.trim()).toBe(`llara: --out ${dir} is a folder; give a file name.`);
    const json = await run(['eval', '--json', join(input, 'e.json')]);
    expect(json.code).toBe(1);
    expect(json.err).toMatch(/^llara: --json .* cannot be written \(.* is a file, not a folder\)\.$/m);
    const log = await run([
      'pretrain',
      '--data',
      `${GOLDEN}/data.jsonl`,
      '--out',
      join(dir, 'pt'),
      '--log',
      dir,
    ]);
    expect(log.err.trim()).toBe(`llara: --log ${dir} is a folder; give a file name.`);
    const out = await run(['pretrain', '--data', `${GOLDEN}/data.jsonl`, '--out', join(input, 'pt')]);
    expect(out.err.trim()).toBe(
      `llara: --out: the folder ${join(input, 'pt')} cannot be created (${input} is a file, not a folder).`,
    );
    expect(readdirSync(dir).sort()).toEqual(['a', 'corpus.jsonl', 'ids.json']);
  });

  it('prints the hidden states result on stdout', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'ids.json'), '\ufeff[[1, 403, 407]]');
    const r = await run([
      'hidden',
      '--model',
      STORIES,
      '--ids',
      join(dir, 'ids.json'),
      '--out',
      join(dir, 'h.npy'),
    ]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ out: join(dir, 'h.npy'), shape: [1, 3, 64], dtype: 'float32' });
  });

  it('warns when token ids run past the positions the model was trained on', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'long.json'), JSON.stringify([[1, ...new Array(519).fill(403)]]));
    const r = await run([
      'hidden',
      '--model',
      STORIES,
      '--ids',
      join(dir, 'long.json'),
      '--out',
      join(dir, 'h.npy'),
    ]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(
      /note: a sequence of length 520 is beyond the 512 positions the model was trained on; RoPE extrapolates/,
    );
  });
});

describe('input files', () => {
  it('accepts a byte-order mark, names a line that is not UTF-8, and says which id came from a position', async () => {
    const dir = tmp();
    const input = join(dir, 'bom.jsonl');
    writeFileSync(
      input,
      `\ufeff${DOCS.slice(0, 2)
        .map((d) => JSON.stringify(d))
        .join('\n')}\n`,
    );
    const common = ['embed', '--model', STORIES, '--max-len', '64', '--in'];
    const ok = await run([...common, input, '--out', join(dir, 'bom.npy')]);
    expect(ok.code, ok.err).toBe(0);

    const latin1 = join(dir, 'latin1.jsonl');
    writeFileSync(
      latin1,
      Buffer.concat([Buffer.from('{"text": "ok"}\n{"text": "caf'), Buffer.from([0xe9]), Buffer.from('"}\n')]),
    );
    const bad = await run([...common, latin1, '--out', join(dir, 'l.npy')]);
    expect(bad.code).toBe(1);
    expect(said(bad)).toBe(`llara: ${latin1} line 2 is not valid UTF-8 text.`);

    const ids = writeJsonl(join(dir, 'ids.jsonl'), [{ text: 'first' }, { _id: '1', text: 'second' }]);
    const clash = await run([...common, ids, '--out', join(dir, 'i.npy')]);
    expect(said(clash)).toBe(`llara: ${ids} line 2 repeats the id "1" given to line 1 by its position.`);
  });

  it('eval-run: a BOM changes nothing, qrels that judge nothing or match no query are refused, a partly judged run is noted', async () => {
    const dir = tmp();
    const qrels = join(dir, 'qrels.tsv');
    writeFileSync(qrels, 'query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n');
    const runText = 'q1 Q0 d1 1 0.9 x\nq1 Q0 d2 2 0.5 x\nq3 Q0 d1 1 0.9 x\n';
    writeFileSync(join(dir, 'run.trec'), runText);
    writeFileSync(join(dir, 'bom.trec'), `\ufeff${runText}`);
    const plain = await run(['eval-run', '--qrels', qrels, '--run', join(dir, 'run.trec')]);
    const bom = await run(['eval-run', '--qrels', qrels, '--run', join(dir, 'bom.trec')]);
    expect(plain.code, plain.err).toBe(0);
    expect(JSON.parse(plain.out)['mrr@10']).toBe(0.5);
    expect(bom.out).toBe(plain.out);
    expect(plain.err).toMatch(
      /note: 1 of the 2 queries in .*run\.trec \(e\.g\. "q3"\) have no relevance judgement/,
    );
    expect(plain.err).toMatch(/note: 1 of the 2 judged queries have no results in .* and count as 0/);

    writeFileSync(join(dir, 'empty.tsv'), 'query-id\tcorpus-id\tscore\n');
    const empty = await run(['eval-run', '--qrels', join(dir, 'empty.tsv'), '--run', join(dir, 'run.trec')]);
    expect(empty.code).toBe(1);
    expect(empty.err).toMatch(/judges no query relevant to any document/);
    writeFileSync(join(dir, 'other.trec'), 'x1 Q0 d1 1 0.9 x\n');
    const other = await run(['eval-run', '--qrels', qrels, '--run', join(dir, 'other.trec')]);
    expect(other.code).toBe(1);
    expect(other.err.trim()).toBe(
      `llara: None of the 1 queries in ${join(dir, 'other.trec')} (e.g. "x1") is judged in ${qrels}; are they from the same collection?`,
    );
  });
});

describe('eval on a BEIR folder', () => {
  it('notes judged documents that the corpus lacks, and reads a BOM like its absence', async () => {
    const beir = tmp();
    writeFileSync(
      join(beir, 'corpus.jsonl'),
      `\ufeff${JSON.stringify({ _id: 'd1', title: '', text: 'The wing makes lift.' })}\n${JSON.stringify({ _id: 'd2', title: '', text: 'A dog ran.' })}\n`,
    );
    writeFileSync(join(beir, 'queries.jsonl'), `${JSON.stringify({ _id: 'q1', text: 'wing lift' })}\n`);
    mkdirSync(join(beir, 'qrels'));
    writeFileSync(join(beir, 'qrels', 'test.tsv'), 'query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td9\t1\n');
    const r = await run([
      'eval',
      '--model',
      STORIES,
      '--beir',
      beir,
      '--max-len',
      '64',
      '--json',
      join(beir, 'e.json'),
    ]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(
      /note: the qrels in .* judge 1 documents that its corpus lacks \(e\.g\. "d9"\); no system can retrieve them/,
    );
    expect(JSON.parse(readFileSync(join(beir, 'e.json'), 'utf8')).rows).toHaveLength(2);
  });
});

describe('settings the data cannot honour', () => {
  it('notes a group larger than the negatives, a batch larger than the data, and lengths beyond the positions', async () => {
    const dir = tmp();
    const data = writeJsonl(join(dir, 'ft.jsonl'), [
      {
        query: 'Where did Lily go?',
        pos: ['Lily went to the park.'],
        neg: ['The cat ate fish.', 'Tom had a ball.'],
      },
      { query: 'Was the sun hot?', pos: ['The sun was hot.'], neg: ['The dog ran fast.'] },
    ]);
    const r = await run([
      'finetune',
      '--model',
      STORIES,
      '--data',
      data,
      '--out',
      join(dir, 'ft'),
      '--steps',
      '1',
      '--batch',
      '3',
      '--group',
      '4',
      '--query-max-len',
      '600',
      '--lora-r',
      '2',
    ]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(
      /note: each step takes 3 queries but .*ft\.jsonl has 2 rows, so a step repeats rows/,
    );
    expect(r.err).toMatch(
      /note: a group of 4 needs 3 negatives per query, and 2 of the 2 rows have fewer \(as few as 1\)/,
    );
    expect(r.err).toMatch(/note: a max length of 600 is beyond the 512 positions the model was trained on/);
    expect(JSON.parse(readFileSync(join(dir, 'ft', 'adapter', 'adapter_config.json'), 'utf8')).r).toBe(2);
  });
});
