import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { llamaConfigToJson, parameterCount, parseLlamaConfig } from './config.ts';

const read = (rel: string) => JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8'));
const stories = () => read('../../../data/models/stories260K/config.json');

describe('parseLlamaConfig', () => {
  it('reads stories260K (transformers 4.x, GQA, explicit head_dim, tied)', () => {
    const c = parseLlamaConfig(stories());
    expect(c).toMatchObject({
      hiddenSize: 64,
      intermediateSize: 172,
      numLayers: 5,
      numHeads: 8,
      numKvHeads: 4,
      headDim: 8,
      rmsNormEps: 1e-5,
      vocabSize: 512,
      tieWordEmbeddings: true,
      ropeTheta: 10000,
      maxPositionEmbeddings: 512,
      bosTokenId: 1,
      eosTokenId: 2,
      torchDtype: 'float32',
    });
    expect(parameterCount(c)).toBe(512 * 64 + 5 * (64 * 64 * 2 + 2 * 32 * 64 + 3 * 64 * 172 + 2 * 64) + 64);
  });

  it('defaults head_dim to hidden / heads and kv heads to heads (tiny-mha, 4.x)', () => {
    const c = parseLlamaConfig(read('../test/fixtures/tiny-mha/config.json'));
    expect(c.headDim).toBe(16);
    expect(c.numKvHeads).toBe(4);
    expect(c.tieWordEmbeddings).toBe(false);
    expect(c.ropeTheta).toBe(10000);
  });

  it('reads RoPE theta and dtype from the transformers 5.x spelling (tiny-gqa)', () => {
    const c = parseLlamaConfig(read('../test/fixtures/tiny-gqa/config.json'));
    expect(c.ropeTheta).toBe(500000);
    expect(c.torchDtype).toBe('float32');
    expect(c.numHeads / c.numKvHeads).toBe(2);
    expect(parseLlamaConfig(read('../test/fixtures/tiny-gqa-bf16/config.json')).torchDtype).toBe('bfloat16');
  });

  it('accepts rope_scaling {rope_type: default} and a list of eos ids', () => {
    const c = parseLlamaConfig({
      ...stories(),
      rope_scaling: { rope_type: 'default' },
      eos_token_id: [2, 7],
    });
    expect(c.eosTokenIds).toEqual([2, 7]);
    expect(c.eosTokenId).toBe(2);
  });

  it('round-trips through llamaConfigToJson', () => {
    const c = parseLlamaConfig(stories());
    expect(parseLlamaConfig(llamaConfigToJson(c))).toEqual(c);
  });

  const refusals: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'another model_type',
      { model_type: 'mistral' },
      /my\/config\.json: "model_type" is "mistral" but only "llama"/,
    ],
    [
      'rope scaling linear',
      { rope_scaling: { type: 'linear', factor: 2 } },
      /"rope_scaling" type "linear" is not supported/,
    ],
    [
      'rope scaling llama3',
      { rope_scaling: { rope_type: 'llama3', factor: 8 } },
      /"rope_scaling" type "llama3" is not supported/,
    ],
    [
      '5.x rope_parameters yarn',
      { rope_parameters: { rope_type: 'yarn', rope_theta: 10000 } },
      /"rope_parameters.rope_type" is "yarn"/,
    ],
    ['attention bias', { attention_bias: true }, /"attention_bias" is true/],
    ['mlp bias', { mlp_bias: true }, /"mlp_bias" is true/],
    ['another activation', { hidden_act: 'gelu' }, /"hidden_act" is "gelu" but only "silu"/],
    ['a missing size', { hidden_size: undefined }, /the required field "hidden_size" is missing/],
    [
      'a fractional size',
      { intermediate_size: 17.5 },
      /"intermediate_size" must be a positive integer but is 17.5/,
    ],
    [
      'heads not a multiple of kv heads',
      { num_key_value_heads: 3 },
      /"num_attention_heads" \(8\) is not a multiple/,
    ],
    ['an odd head_dim', { head_dim: 7 }, /"head_dim" \(7\) must be even/],
    ['an unknown dtype', { torch_dtype: 'int8' }, /"torch_dtype" is "int8"/],
  ];
  for (const [what, patch, message] of refusals) {
    it(`refuses ${what} in one sentence naming the file and field`, () => {
      const json = { ...stories(), ...patch };
      let err: Error | undefined;
      try {
        parseLlamaConfig(json, 'my/config.json');
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).toMatch(message);
      expect(err?.message.startsWith('my/config.json: ')).toBe(true);
      expect(err?.message.trim().endsWith('.')).toBe(true);
      expect(err?.message.split('\n')).toHaveLength(1);
    });
  }

  it('refuses a non-object', () => {
    expect(() => parseLlamaConfig([1, 2], 'c.json')).toThrow('c.json: is not a JSON object.');
  });
});
