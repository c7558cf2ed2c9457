import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { runCli, STORIES, tempDir, writeJsonl } from './test-harness.ts';

const ROWS = [
  {
    query: 'Where did Lily go?',
    pos: ['Lily went to the park.'],
    neg: ['The cat ate fish.', 'Tom had a red ball.'],
  },
  {
    query: 'What did the cat eat?',
    pos: [{ title: 'Cat', text: 'The cat ate fish.' }],
    neg: ['The sun was hot.'],
  },
  { query: 'What color was the ball?', pos: ['Tom had a red ball.'], neg: ['Lily went to the park.'] },
  { query: 'Was the sun hot?', pos: ['The sun was hot.'], neg: ['The dog ran fast.'] },
];

const small = [
  '--batch',
  '2',
  '--group',
  '2',
  '--query-max-len',
  '48',
  '--passage-max-len',
  '48',
  '--lora-r',
  '4',
];

describe('llara finetune', () => {
  it('trains 2 steps on the bundled model and writes the adapter, checkpoint and metrics log', async () => {
    const dir = tempDir();
    const data = writeJsonl(join(dir, 'train.jsonl'), ROWS);
    const out = join(dir, 'run');
    const log = join(dir, 'metrics.jsonl');
    const r = await runCli([
      'finetune',
      '--model',
      STORIES,
      '--data',
      data,
      '--recipe',
      'flag',
      '--out',
      out,
      '--steps',
      '2',
      ...small,
      '--grad-cache-chunk',
      '2',
      '--tau',
      '0.05',
      '--lr',
      '1e-3',
      '--log',
      log,
    ]);
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out.trim());
    expect(result.adapter).toBe(join(out, 'adapter'));
    expect(result.steps).toBe(2);
    for (const f of ['adapter_config.json', 'adapter_model.safetensors'])
      expect(existsSync(join(out, 'adapter', f)), f).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'adapter', 'adapter_config.json'), 'utf8')).r).toBe(4);
    expect(existsSync(join(out, 'checkpoint-2', 'trainer_state.json'))).toBe(true);
    const lines = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.step)).toEqual([0, 1]);
    for (const l of lines)
      for (const k of ['loss', 'lr', 'tokens_per_s', 'grad_norm']) expect(typeof l[k]).toBe('number');
    expect(r.err).toMatch(/fine-tuning on .*4 rows, recipe flag, 2 steps x 2 queries x group 2/);
  });

  it('shows an example in --help', async () => {
    let help = '';
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      help += String(chunk);
      return true;
    });
    try {
      expect((await runCli(['finetune', '--help'])).code).toBe(0);
    } finally {
      write.mockRestore();
    }
    expect(help).toMatch(/--grad-cache-chunk <n>/);
    expect(help).toMatch(/Example:\n\s+pnpm llara finetune /);
  });

  it('reports bad input as one sentence with exit code 1', async () => {
    const dir = tempDir();
    const missing = await runCli(['finetune', '--data', join(dir, 'nope.jsonl'), '--out', join(dir, 'o')]);
    expect(missing.code).toBe(1);
    expect(missing.err.trim()).toBe(
      `llara: The data file ${join(dir, 'nope.jsonl')} cannot be read (does it exist?).`,
    );
    const noNeg = writeJsonl(join(dir, 'no-neg.jsonl'), [ROWS[0], { query: 'q', pos: ['p'] }]);
    const r = await runCli(['finetune', '--data', noNeg, '--out', join(dir, 'o'), '--group', '3']);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe(`llara: ${noNeg} line 2 has no negatives, but a group of 3 needs 2 per query.`);
    const both = await runCli([
      'finetune',
      '--data',
      noNeg,
      '--out',
      join(dir, 'o'),
      '--adapter',
      dir,
      '--lora-r',
      '4',
    ]);
    expect(both.code).toBe(1);
    expect(both.err).toMatch(/cannot go with --adapter/);
  });
});
