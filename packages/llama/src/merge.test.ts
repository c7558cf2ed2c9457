import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '@llara/gpu';
import { describe, expect, it } from 'vitest';
import { flagSpecialTokens } from './added-tokens.ts';
import { llamaConfigToJson } from './config.ts';
import { mergeLoraWeight, mergeModel } from './merge.ts';
import { encodeWeights, parseByteSize, planShards, writeModelFolder } from './model-export.ts';
import { openModelFolder, readAdapterFolder } from './node.ts';
import { readAllFloat32 } from './open-model.ts';
import type { LoraMatrices } from './peft.ts';
import { tokenizerConfigWithTokens, tokenizerJsonWithTokens } from './tokenizer-export.ts';

const DATA = new URL('../../../data/', import.meta.url).pathname;
const STORIES = `${DATA}models/stories260K`;
const ADAPTER = `${DATA}goldens/llara-flag-stories260K/adapter`;
const tmp = () => mkdtempSync(join(tmpdir(), 'llara-merge-'));

/** W + scale * B A by the definition, one output element at a time. */
function mergeRef(W: Float32Array, m: LoraMatrices, scale: number): Float64Array {
  const r = m.A.length / m.inDim;
  const out = new Float64Array(W.length);
  for (let o = 0; o < m.outDim; o++)
    for (let i = 0; i < m.inDim; i++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += m.B[o * r + k] * m.A[k * m.inDim + i];
      out[o * m.inDim + i] = W[o * m.inDim + i] + scale * s;
    }
  return out;
}

function random(n: number, rand: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => 2 * rand() - 1);
}

async function openBase() {
  const opened = await openModelFolder(STORIES);
  const lora = await readAdapterFolder(ADAPTER, opened.config);
  return { opened, lora };
}

/** The exported folder's non-weight files for a flag merge of stories260K. */
function flagFiles(vocab: number) {
  const tokens = flagSpecialTokens(512);
  const config = JSON.parse(readFileSync(`${STORIES}/config.json`, 'utf8'));
  return {
    tokens,
    files: {
      'config.json': JSON.stringify({ ...config, vocab_size: vocab }),
      'tokenizer.json': JSON.stringify(
        tokenizerJsonWithTokens(JSON.parse(readFileSync(`${STORIES}/tokenizer.json`, 'utf8')), tokens),
      ),
      'tokenizer_config.json': JSON.stringify(
        tokenizerConfigWithTokens(
          JSON.parse(readFileSync(`${STORIES}/tokenizer_config.json`, 'utf8')),
          tokens,
        ),
      ),
    },
  };
}

describe('mergeLoraWeight', () => {
  it('equals W + scale * B A on shapes off any tile, rounded once to f32', () => {
    const rand = seededRandom(3);
    for (const [outDim, inDim, r] of [
      [7, 5, 1],
      [13, 9, 3],
      [1, 17, 4],
    ]) {
      const W = random(outDim * inDim, rand);
      const m = { A: random(r * inDim, rand), B: random(outDim * r, rand), inDim, outDim };
      const got = mergeLoraWeight(W, m, 1.75);
      const want = mergeRef(W, m, 1.75);
      for (let i = 0; i < W.length; i++)
        expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(Math.abs(want[i]) * 2 ** -24 + 1e-12);
    }
  });

  it('refuses matrices that do not fit the weight', () => {
    const m = { A: new Float32Array(6), B: new Float32Array(4), inDim: 3, outDim: 2 };
    expect(() => mergeLoraWeight(new Float32Array(5), m, 1)).toThrow(/not 2 x 3/);
  });
});

describe('mergeModel on stories260K with the golden adapter', () => {
  it('merges every adapted projection, keeps the rest, and appends mean rows for the 16 tokens', async () => {
    const { opened, lora } = await openBase();
    const merged = mergeModel(opened.config, opened.checkpoint, { lora, addedTokens: 16 });
    expect(merged.config.vocabSize).toBe(528);
    expect(merged.names[0]).toBe('model.embed_tokens.weight');
    expect(merged.names).not.toContain('lm_head.weight');
    const base = await readAllFloat32(opened.checkpoint);
    const scale = lora.config.alpha / lora.config.r;
    for (const [l, target, module] of [
      [0, 'q_proj', 'self_attn'],
      [4, 'down_proj', 'mlp'],
    ] as const) {
      const name = `model.layers.${l}.${module}.${target}.weight`;
      const got = await merged.read(name);
      const want = mergeRef(base.get(name)!, lora.layers[l][target]!, scale);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
      expect(worst).toBeLessThan(1e-6);
      expect(got).not.toEqual(base.get(name));
    }
    expect(await merged.read('model.layers.1.input_layernorm.weight')).toEqual(
      base.get('model.layers.1.input_layernorm.weight'),
    );
    const embed = await merged.read('model.embed_tokens.weight');
    expect(embed.length).toBe(528 * 64);
    expect(embed.subarray(0, 512 * 64)).toEqual(base.get('model.embed_tokens.weight'));
    let mean0 = 0;
    for (let r = 0; r < 512; r++) mean0 += embed[r * 64];
    expect(embed[520 * 64]).toBeCloseTo(mean0 / 512, 6);
  });
});

describe('writeModelFolder', () => {
  it('writes shards + index, and the folder reloads with the same weights and the special tokens', async () => {
    const { opened, lora } = await openBase();
    const merged = mergeModel(opened.config, opened.checkpoint, { lora, addedTokens: 16 });
    const { tokens, files } = flagFiles(528);
    const out = join(tmp(), 'merged');
    const report = await writeModelFolder(out, merged, {
      dtype: 'F32',
      shardBytes: 300_000,
      files,
      expectTokens: tokens,
    });
    expect(report.weightFiles.length).toBeGreaterThan(2);
    expect(readdirSync(out)).toContain('model.safetensors.index.json');
    const index = JSON.parse(readFileSync(join(out, 'model.safetensors.index.json'), 'utf8'));
    expect(Object.keys(index.weight_map).length).toBe(merged.names.length);
    expect(index.metadata.total_size).toBe(report.totalBytes);
    const again = await openModelFolder(out);
    expect(again.config.vocabSize).toBe(528);
    expect(again.tokenizer!.tokenToId('<s1>')).toBe(520);
    expect(again.tokenizer!.encode('a<s9>', { addBos: false }).at(-1)).toBe(512);
    const back = await readAllFloat32(again.checkpoint);
    for (const name of merged.names) expect(back.get(name), name).toEqual(await merged.read(name));
  });

  for (const dtype of ['F16', 'BF16'] as const) {
    it(`writes ${dtype} within its rounding of the f32 merge`, async () => {
      const { opened, lora } = await openBase();
      const merged = mergeModel(opened.config, opened.checkpoint, { lora, addedTokens: 16 });
      const out = join(tmp(), 'm');
      const report = await writeModelFolder(out, merged, { dtype, files: flagFiles(528).files });
      expect(report.weightFiles).toEqual(['model.safetensors']);
      const again = await openModelFolder(out);
      const rel = dtype === 'F16' ? 2 ** -11 : 2 ** -8;
      const name = 'model.layers.2.mlp.up_proj.weight';
      expect(again.checkpoint.infos.get(name)!.dtype).toBe(dtype);
      const got = (await readAllFloat32(again.checkpoint)).get(name)!;
      const want = await merged.read(name);
      for (let i = 0; i < want.length; i++)
        expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(rel * Math.abs(want[i]) + 2 ** -25);
    });
  }

  it('refuses a folder whose bytes differ from memory, or lack a tensor, and removes it', async () => {
    const { opened, lora } = await openBase();
    const merged = mergeModel(opened.config, opened.checkpoint, { lora, addedTokens: 16 });
    const parent = tmp();
    const out = join(parent, 'm');
    await expect(
      writeModelFolder(out, merged, {
        dtype: 'F32',
        files: flagFiles(528).files,
        beforeVerify: async (dir) => {
          const file = join(dir, 'model.safetensors');
          const bytes = readFileSync(file);
          bytes[bytes.length - 3] ^= 0x40;
          writeFileSync(file, bytes);
        },
      }),
    ).rejects.toThrow(/model\.safetensors: tensor .* differs from the weights computed in memory/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(parent)).toEqual([]);

    await expect(
      writeModelFolder(out, merged, {
        dtype: 'F32',
        shardBytes: 300_000,
        files: flagFiles(528).files,
        beforeVerify: async (dir) => {
          const file = join(dir, 'model.safetensors.index.json');
          const index = JSON.parse(readFileSync(file, 'utf8'));
          delete index.weight_map['model.norm.weight'];
          writeFileSync(file, JSON.stringify(index));
        },
      }),
    ).rejects.toThrow(/model\.norm\.weight/);
    expect(readdirSync(parent)).toEqual([]);
  });

  it('refuses the tokenizer of a folder that does not know the added tokens', async () => {
    const { opened, lora } = await openBase();
    const merged = mergeModel(opened.config, opened.checkpoint, { lora, addedTokens: 16 });
    const { tokens, files } = flagFiles(528);
    files['tokenizer.json'] = readFileSync(`${STORIES}/tokenizer.json`, 'utf8');
    await expect(
      writeModelFolder(join(tmp(), 'm'), merged, { dtype: 'F32', files, expectTokens: tokens }),
    ).rejects.toThrow(/tokenizer\.json maps <s1> to nothing, not to its id 520/);
  });

  it('refuses a non-empty output folder and a config that disagrees with the weights', async () => {
    const { opened } = await openBase();
    const merged = mergeModel(opened.config, opened.checkpoint);
    const dir = tmp();
    writeFileSync(join(dir, 'x'), 'x');
    await expect(
      writeModelFolder(dir, merged, { dtype: 'F32', files: { 'config.json': '{}' } }),
    ).rejects.toThrow(/is not an empty folder/);
    const config = llamaConfigToJson({ ...opened.config, ropeTheta: 500000 });
    await expect(
      writeModelFolder(join(tmp(), 'm'), merged, {
        dtype: 'F32',
        files: { 'config.json': JSON.stringify(config) },
      }),
    ).rejects.toThrow(/config\.json has ropeTheta 500000 but the exported model has 10000/);
  });
});

describe('export helpers', () => {
  it('parses sizes as transformers does', () => {
    expect(parseByteSize('2GB')).toBe(2e9);
    expect(parseByteSize('1GiB')).toBe(2 ** 30);
    expect(parseByteSize('300KB')).toBe(300_000);
    expect(parseByteSize('1234')).toBe(1234);
    expect(() => parseByteSize('two')).toThrow(/not a size/);
  });

  it('plans shards greedily, an oversized tensor alone', () => {
    const t = (name: string, bytes: number) => ({ name, bytes });
    expect(planShards([t('a', 4), t('b', 4), t('c', 9), t('d', 1)], 8)).toEqual([['a', 'b'], ['c'], ['d']]);
  });

  it('refuses f16 overflow and non-finite weights by tensor and index', () => {
    expect(() => encodeWeights(new Float32Array([1, 7e4]), 'F16', 'w')).toThrow(
      /w has the value 70000 at index 1, beyond the f16 range/,
    );
    expect(encodeWeights(new Float32Array([1, 7e4]), 'BF16', 'w')).toBeInstanceOf(Uint16Array);
    expect(() => encodeWeights(new Float32Array([Number.NaN]), 'F32', 'w')).toThrow(/non-finite value/);
  });

  it('registers added tokens once and refuses ids or names taken by other tokens', () => {
    const json = JSON.parse(readFileSync(`${STORIES}/tokenizer.json`, 'utf8'));
    const once = tokenizerJsonWithTokens(json, flagSpecialTokens(512));
    const twice = tokenizerJsonWithTokens(once, flagSpecialTokens(512));
    expect((twice.added_tokens as unknown[]).length).toBe(3 + 16);
    expect(() => tokenizerJsonWithTokens(json, [{ content: '<x>', id: 1 }])).toThrow(
      /already uses id 1 for <s>/,
    );
    expect(() => tokenizerJsonWithTokens(once, [{ content: '<s1>', id: 600 }])).toThrow(
      /already has token <s1> with id 520/,
    );
    const cfg = tokenizerConfigWithTokens({ add_bos_token: true }, flagSpecialTokens(512));
    expect((cfg.added_tokens_decoder as Record<string, { content: string }>)['520'].content).toBe('<s1>');
    expect(cfg.additional_special_tokens).toHaveLength(16);
  });
});
