/**
 * The CLI as a new user meets it: commands run in-process through `main`, with their exit codes,
 * stdout and stderr; wrong paths and broken files give one sentence and exit code 1.
 */
import { copyFileSync, cpSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy } from '@llara/index/node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DATA, runCli as run, STORIES, tempDir as tmp } from '../src/commands/test-harness.ts';

const GOLDEN = `${DATA}goldens/llara-flag-stories260K`;

afterEach(() => vi.restoreAllMocks());

describe('llara basics', () => {
  it('tokenizes with BOS and accepts a leading -- from pnpm', async () => {
    const r = await run(['--', 'tokenize', '--model', STORIES, 'Once upon a time']);
    expect(r.code).toBe(0);
    const ids = JSON.parse(r.out) as number[];
    expect(ids[0]).toBe(1);
    expect(ids.length).toBeGreaterThan(2);
  });

  it('prints model info', async () => {
    const r = await run(['info', '--model', STORIES, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).parameters).toBe(260032);
  });

  it('writes hidden states as [n, max_len, hidden] with zeros past each end', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'ids.json'), '[[1, 403, 407, 261], [1, 403]]');
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
    const npy = await readNpy(join(dir, 'h.npy'));
    expect(npy.shape).toEqual([2, 4, 64]);
    const data = npy.data as Float32Array;
    // The shared prefix [1, 403] gives the same states in both rows (causal attention).
    for (let i = 0; i < 128; i++) expect(Math.abs(data[i] - data[256 + i])).toBeLessThan(1e-5);
    expect(Array.from(data.subarray(256 + 128))).toEqual(new Array(128).fill(0));
  });

  it('scores a TREC run', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'qrels.tsv'), 'query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td3\t2\n');
    writeFileSync(join(dir, 'run.trec'), 'q1 Q0 d3 1 0.9 x\nq1 Q0 d2 2 0.5 x\nq1 Q0 d1 3 0.1 x\n');
    const r = await run(['eval-run', '--qrels', join(dir, 'qrels.tsv'), '--run', join(dir, 'run.trec')]);
    expect(r.code, r.err).toBe(0);
    const m = JSON.parse(r.out);
    expect(m['mrr@10']).toBe(1);
    // AP = (1/1 + 2/3) / 2
    expect(m.map).toBeCloseTo((1 + 2 / 3) / 2, 10);
  });
});

describe('user errors: one sentence, exit code 1', () => {
  it('names a model folder that does not exist', async () => {
    const r = await run(['info', '--model', '/nonexistent/model']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/\/nonexistent\/model does not exist/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });

  it('refuses a truncated safetensors file, naming it', async () => {
    const dir = tmp();
    cpSync(STORIES, dir, { recursive: true });
    truncateSync(join(dir, 'model.safetensors'), 500_000);
    const r = await run(['info', '--model', dir]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/model\.safetensors/);
    expect(r.err).toMatch(/truncated|ends at byte|has \d+ bytes/);
  });

  it('refuses a tokenizer from another model', async () => {
    const dir = tmp();
    cpSync(STORIES, dir, { recursive: true });
    copyFileSync(`${DATA}llama2-tokenizer.json`, join(dir, 'tokenizer.json'));
    const r = await run(['tokenize', '--model', dir, 'hello']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/tokenizer/i);
  });

  it('lists the valid recipes for an unknown one', async () => {
    const r = await run(['eval', '--recipe', 'nope', '--model', STORIES]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/Unknown recipe "nope"; valid recipes are flag, paper, repllama/);
  });

  it('names a malformed data line', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'bad.jsonl'), '{"input": "a", "output_predict": "b"}\n{not json\n');
    const r = await run([
      'pretrain',
      '--data',
      join(dir, 'bad.jsonl'),
      '--out',
      join(dir, 'o'),
      '--steps',
      '1',
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.jsonl.*line 2/);
  });
});

describe('pretraining checkpoints', () => {
  const common = (out: string, steps: number) => [
    'pretrain',
    '--model',
    STORIES,
    '--data',
    `${GOLDEN}/data.jsonl`,
    '--out',
    out,
    '--steps',
    String(steps),
    '--batch',
    '1',
    '--max-len',
    '160',
    '--lora-r',
    '2',
    '--lora-dropout',
    '0.1',
    '--lr',
    '1e-2',
    '--lr-schedule',
    'cosine',
    '--warmup',
    '1',
    '--save-every',
    '2',
  ];
  const losses = (out: string) =>
    readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: number; loss: number });

  it('resumes exactly where an interrupted run stopped', async () => {
    const full = tmp();
    expect((await run(common(full, 4))).code).toBe(0);
    const a = losses(full);
    const resumed = tmp();
    cpSync(full, resumed, { recursive: true });
    // Roll the finished run back to its step-2 checkpoint (as if killed during step 3) and resume:
    // steps 2 and 3 must repeat the uninterrupted run (data order, dropout masks, AdamW moments).
    rmSync(join(resumed, 'checkpoint-4'), { recursive: true, force: true });
    const r = await run([...common(resumed, 4), '--resume']);
    expect(r.code, r.err).toBe(0);
    const c = losses(resumed);
    expect(c.map((l) => l.step)).toEqual([0, 1, 2, 3]);
    for (let i = 0; i < 4; i++) expect(c[i].loss).toBeCloseTo(a[i].loss, 5);
    const cfg = JSON.parse(readFileSync(join(resumed, 'adapter', 'adapter_config.json'), 'utf8'));
    expect(cfg.r).toBe(2);
  });
});
