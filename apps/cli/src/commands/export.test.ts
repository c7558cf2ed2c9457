import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertClose } from '@llara/gpu';
import { openModelFolder, readAdapterFolder } from '@llara/llama/node';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../model-loader.ts';
import { embedderFor } from './embed.ts';
import { GOLDEN_ADAPTER, hiddenStates, runCli, STORIES, tempDir } from './test-harness.ts';

describe('llara export --merge', () => {
  it('folds the golden adapter in: the merged model alone equals base + adapter', async () => {
    const out = join(tempDir(), 'merged');
    const r = await runCli([
      'export',
      '--model',
      STORIES,
      '--adapter',
      GOLDEN_ADAPTER,
      '--merge',
      '--out',
      out,
    ]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ merged: true, dtype: 'f32', vocab: 528, addedTokens: 16 });
    expect(readdirSync(out).sort()).toEqual(
      [
        'config.json',
        'generation_config.json',
        'LICENSE',
        'model.safetensors',
        'special_tokens_map.json',
        'tokenizer.json',
        'tokenizer_config.json',
      ].sort(),
    );

    // The tokenizer knows <s1>..<s16>, so loading the merged model appends no rows.
    const opened = await openModelFolder(out);
    expect(opened.config.vocabSize).toBe(528);
    expect(opened.tokenizer!.tokenToId('<s9>')).toBe(512);
    const tokConfig = JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8'));
    expect(tokConfig.added_tokens_decoder['520']).toMatchObject({ content: '<s1>', special: true });

    const base = await loadModel({ model: STORIES, adapter: GOLDEN_ADAPTER, recipe: 'flag', quiet: true });
    const merged = await loadModel({ model: out, recipe: 'flag', quiet: true, gpu: base.gpu });
    try {
      expect(merged.model.shape.vocabSize).toBe(528);
      expect(merged.model.lora).toBeNull();
      // Text tokens, then every added token, so their rows (mean-initialised) are compared too.
      const ids = [1, 376, 403, 407, 261, 285, 320, ...Array.from({ length: 16 }, (_, k) => 512 + k)];
      assertClose(await hiddenStates(merged, ids), await hiddenStates(base, ids), { atol: 1e-5, rtol: 1e-5 });
      const texts = ['The wing makes lift.', 'Lily saw a big dog.'];
      for (const role of ['query', 'passage'] as const) {
        const want = await embedderFor(base, 64, 2).embed(texts, role);
        assertClose(await embedderFor(merged, 64, 2).embed(texts, role), want, { atol: 1e-5, rtol: 1e-5 });
      }
    } finally {
      merged.close();
      base.close();
    }
  });

  it('writes bf16 shards with an index when the model exceeds --shard-size', async () => {
    const out = join(tempDir(), 'merged');
    const r = await runCli([
      ...['export', '--model', STORIES, '--adapter', GOLDEN_ADAPTER, '--merge', '--out', out],
      ...['--dtype', 'bf16', '--shard-size', '150KB'],
    ]);
    expect(r.code, r.err).toBe(0);
    const files = JSON.parse(r.out).files as string[];
    expect(files.length).toBeGreaterThan(2);
    expect(files[0]).toBe(`model-00001-of-${String(files.length).padStart(5, '0')}.safetensors`);
    const opened = await openModelFolder(out);
    expect(opened.config.torchDtype).toBe('bfloat16');
    expect(opened.checkpoint.infos.get('model.layers.0.self_attn.q_proj.weight')!.dtype).toBe('BF16');
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).vocab_size).toBe(528);
  });
});

describe('llara export (adapter)', () => {
  it('writes the PEFT adapter, which reads back equal', async () => {
    const out = join(tempDir(), 'adapter');
    const r = await runCli(['export', '--model', STORIES, '--adapter', GOLDEN_ADAPTER, '--out', out]);
    expect(r.code, r.err).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const opened = await openModelFolder(STORIES);
    const a = await readAdapterFolder(GOLDEN_ADAPTER, opened.config);
    const b = await readAdapterFolder(out, opened.config);
    expect(b.config).toEqual(a.config);
    expect(b.layers).toEqual(a.layers);
  });

  it('refuses a non-empty --out, a missing adapter and a dtype without --merge, in one sentence', async () => {
    const dir = tempDir();
    const full = join(dir, 'full');
    mkdirSync(full);
    writeFileSync(join(full, 'keep.txt'), 'mine');
    const cases: [string[], RegExp][] = [
      [
        ['--adapter', GOLDEN_ADAPTER, '--merge', '--out', full],
        /--out .*full already exists and is not an empty folder/,
      ],
      [
        ['--adapter', join(dir, 'none'), '--out', join(dir, 'a')],
        /The adapter folder .*none does not exist\./,
      ],
      [['--out', join(dir, 'b')], /--adapter is required/],
      [
        ['--adapter', GOLDEN_ADAPTER, '--dtype', 'f16', '--out', join(dir, 'c')],
        /--dtype applies to --merge only/,
      ],
      [
        ['--adapter', GOLDEN_ADAPTER, '--merge', '--dtype', 'f8', '--out', join(dir, 'd')],
        /--dtype must be f32, f16 or bf16/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['export', '--model', STORIES, ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err).toMatch(message);
    }
    expect(readFileSync(join(full, 'keep.txt'), 'utf8')).toBe('mine');
    expect(existsSync(join(dir, 'a'))).toBe(false);
  });
});
