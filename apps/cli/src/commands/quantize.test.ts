/**
 * `--quantize` across the CLI: a quantized export that loads without re-quantizing (same hidden states
 * as quantizing on load), `hidden --quantize` close to the full-precision model, `info --quantize`, and
 * each bad input as one sentence with exit code 1 and nothing written.
 */
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cosine } from '@llara/gpu';
import { readNpy } from '@llara/index/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../model-loader.ts';
import { GOLDEN_ADAPTER, hiddenStates, runCli, STORIES, tempDir, writeJsonl } from './test-harness.ts';

let q4Dir: string;
const IDS = join(tempDir(), 'ids.json');
beforeAll(async () => {
  writeFileSync(IDS, '[[1, 403, 407]]');
  q4Dir = join(tempDir(), 'q4');
  const r = await runCli(['export', '--model', STORIES, '--quantize', 'q4', '--out', q4Dir]);
  expect(r.code, r.err).toBe(0);
  expect(JSON.parse(r.out)).toMatchObject({ quantization: 'q4', tensors: 47 });
});

describe('llara export --quantize', () => {
  it('writes a folder that loads as stored, equal to quantizing on load', async () => {
    const config = JSON.parse(readFileSync(join(q4Dir, 'config.json'), 'utf8'));
    expect(config.quantization).toEqual({ format: 'q4', block_size: 32, layout: 'llara-rows-v1' });
    const onLoad = await loadModel({ model: STORIES, recipe: 'flag', quiet: true, quantize: 'q4' });
    const stored = await loadModel({ model: q4Dir, recipe: 'flag', quiet: true, gpu: onLoad.gpu });
    try {
      expect(stored.model.weights.layers[2].gate.dtype).toBe('q4');
      const ids = [1, 403, 407, 22, 517, 520]; // two of the flag tokens: the f32 added rows
      expect(await hiddenStates(stored, ids)).toEqual(await hiddenStates(onLoad, ids));
    } finally {
      stored.close();
      onLoad.close();
    }
    const info = await runCli(['info', '--model', q4Dir, '--json']);
    expect(info.code, info.err).toBe(0);
    expect(JSON.parse(info.out).weights_on_gpu).toBe('q4');
  });

  it('refuses bad input in one sentence with exit code 1 and writes nothing', async () => {
    const cases: [string[], RegExp][] = [
      [['export', '--model', q4Dir, '--quantize', 'nf4'], /is already q4-quantized .*drop --quantize nf4\.$/],
      [['hidden', '--model', q4Dir, '--quantize', 'q8', '--ids', IDS], /is already q4-quantized/],
      [
        ['export', '--model', q4Dir, '--adapter', GOLDEN_ADAPTER, '--merge'],
        /is q4-quantized and cannot be merged: merge the adapter into the f16 base/,
      ],
      [['export', '--model', STORIES, '--quantize', 'q4', '--merge'], /do not combine/],
      [['export', '--model', STORIES, '--quantize', 'q3'], /--quantize must be q8, q4 or nf4, got "q3"/],
    ];
    for (const [args, message] of cases) {
      const out = join(tempDir(), 'never');
      const r = await runCli(
        args[0] === 'hidden' ? [...args, '--out', `${out}.npy`] : [...args, '--out', out],
      );
      expect(r.code, `${args.join(' ')}: ${r.err}`).toBe(1);
      expect(r.err.trim().split('\n')[0]).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
  });

  it('refuses a quantized folder whose config disagrees with its tensors', async () => {
    for (const [edit, message] of [
      [{ block_size: 64 }, /"quantization.block_size" is 64 but q4 uses blocks of 32/],
      [
        { format: 'q8' },
        /tensor model.embed_tokens.weight has shape \[512, 9\] but .*config.json implies \[512, 17\] \(q8 blocks of \[512, 64\]\)\./,
      ],
      [{ layout: 'other' }, /"quantization.layout" is "other"/],
    ] as const) {
      const dir = join(tempDir(), 'bad');
      cpSync(q4Dir, dir, { recursive: true });
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      config.quantization = { ...config.quantization, ...edit };
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
      const r = await runCli(['info', '--model', dir]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(message);
    }
  });
});

describe('hidden and info with --quantize', () => {
  it('hidden --quantize q8 stays within cosine 0.999 of the f32 model; info estimates less memory', async () => {
    const dir = tempDir();
    const ids = join(dir, 'ids.json');
    writeFileSync(ids, JSON.stringify([[1, 403, 407, 22, 290, 31, 7]]));
    const run = async (extra: string[]) => {
      const out = join(dir, `h${extra.join('')}.npy`);
      const r = await runCli(['hidden', '--model', STORIES, '--ids', ids, '--out', out, ...extra]);
      expect(r.code, r.err).toBe(0);
      return (await readNpy(out)).data as Float32Array;
    };
    expect(cosine(await run(['--quantize', 'q8']), await run([]))).toBeGreaterThan(0.999);
    const info = async (extra: string[]) =>
      JSON.parse((await runCli(['info', '--model', STORIES, '--json', ...extra])).out).memory_forward_bytes;
    expect(await info(['--quantize', 'nf4'])).toBeLessThan(await info([]));
  });
});

describe('QLoRA fine-tuning (finetune --quantize nf4)', () => {
  it('trains with GradCache on a frozen nf4 base, resumes to the same adapter, refuses another base', async () => {
    const dir = tempDir();
    const data = writeJsonl(join(dir, 'train.jsonl'), [
      { query: 'Where did Lily go?', pos: ['Lily went to the park.'], neg: ['The cat ate fish.'] },
      { query: 'What did the cat eat?', pos: ['The cat ate fish.'], neg: ['The sun was hot.'] },
      { query: 'Was the sun hot?', pos: ['The sun was hot.'], neg: ['Lily went to the park.'] },
    ]);
    const out = join(dir, 'run');
    const args = [
      'finetune',
      '--model',
      STORIES,
      '--data',
      data,
      '--out',
      out,
      '--steps',
      '2',
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
      '--lr',
      '1e-3',
      '--grad-cache-chunk',
      '2',
      '--save-every',
      '1',
    ];
    const first = await runCli([...args, '--quantize', 'nf4']);
    expect(first.code, first.err).toBe(0);
    const weights = join(out, 'adapter', 'adapter_model.safetensors');
    const straight = readFileSync(weights);
    // Lose the last step, then resume from checkpoint-1: the same adapter, byte for byte.
    rmSync(join(out, 'checkpoint-2'), { recursive: true });
    rmSync(join(out, 'adapter'), { recursive: true });
    const resumed = await runCli([...args, '--quantize', 'nf4', '--resume']);
    expect(resumed.code, resumed.err).toBe(0);
    expect(readFileSync(weights).equals(straight)).toBe(true);
    // Resuming on the full-precision base would continue another run: refused.
    rmSync(join(out, 'checkpoint-2'), { recursive: true });
    const other = await runCli([...args, '--resume']);
    expect(other.code).toBe(1);
    expect(other.err).toMatch(
      /Cannot resume from .*checkpoint-1: it was trained with quantize = "nf4", not undefined\./,
    );
  });
});
