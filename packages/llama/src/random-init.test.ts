import { fromBf16Array, fromF16Array, toF16Array } from '@llara/gpu';
import { describe, expect, it } from 'vitest';
import { parameterCount } from './config.ts';
import { LLAMA2_7B_CONFIG, RandomCheckpoint, randomTensorValues } from './random-init.ts';
import { tensorToFloat32 } from './safetensors.ts';
import { readFloat32 } from './sharded.ts';

const Q = 'model.layers.0.self_attn.q_proj.weight';
const EMBED = 'model.embed_tokens.weight';

describe('RandomCheckpoint', () => {
  it('lists every LLaMA-2-7B tensor with its shape without generating any', () => {
    const src = new RandomCheckpoint(LLAMA2_7B_CONFIG, { dtype: 'F16' });
    expect(src.names).toHaveLength(1 + 32 * 9 + 2);
    expect(src.infos.get(Q)).toEqual({ dtype: 'F16', shape: [4096, 4096] });
    expect(src.infos.get('lm_head.weight')?.shape).toEqual([32000, 4096]);
    expect(src.totalBytes).toBe(2 * parameterCount(LLAMA2_7B_CONFIG));
  });

  it('is deterministic per (seed, name), row ranges equal the same rows of the whole', async () => {
    const src = new RandomCheckpoint(LLAMA2_7B_CONFIG, { seed: 5 });
    const rows = await src.readRows(EMBED, 31990, 32000);
    expect(rows.shape).toEqual([10, 4096]);
    const again = await new RandomCheckpoint(LLAMA2_7B_CONFIG, { seed: 5 }).readRows(EMBED, 31995, 32000);
    expect(tensorToFloat32(again)).toEqual(tensorToFloat32(rows).subarray(5 * 4096));
    const other = await new RandomCheckpoint(LLAMA2_7B_CONFIG, { seed: 6 }).readRows(EMBED, 31995, 32000);
    expect(tensorToFloat32(other)).not.toEqual(tensorToFloat32(again));
  });

  it('draws values with std 0.02, mean 0, ones for norms; F16/BF16 are roundings of F32', {
    timeout: 60_000,
  }, async () => {
    const shape = [64, 256];
    const cfg = {
      ...LLAMA2_7B_CONFIG,
      hiddenSize: 256,
      intermediateSize: 96,
      numHeads: 4,
      numKvHeads: 4,
      headDim: 64,
      numLayers: 1,
    };
    const f32 = await readFloat32(
      new RandomCheckpoint(cfg, { seed: 1 }),
      'model.layers.0.mlp.down_proj.weight',
    );
    expect(f32).toEqual(randomTensorValues('model.layers.0.mlp.down_proj.weight', [256, 96], 1));
    const v = randomTensorValues(Q, shape, 1);
    let mean = 0;
    let sq = 0;
    for (const x of v) {
      mean += x / v.length;
      sq += (x * x) / v.length;
    }
    expect(Math.abs(mean)).toBeLessThan(1e-3);
    expect(Math.sqrt(sq)).toBeGreaterThan(0.0195);
    expect(Math.sqrt(sq)).toBeLessThan(0.0205);
    expect(new Set(v).size).toBeGreaterThan(v.length / 2);
    const norm = await new RandomCheckpoint(cfg, { dtype: 'BF16' }).read('model.norm.weight');
    expect(fromBf16Array(new Uint16Array(norm.data.buffer))).toEqual(new Float32Array(256).fill(1));
    const f16 = await new RandomCheckpoint(cfg, { seed: 1, dtype: 'F16' }).read(
      'model.layers.0.mlp.down_proj.weight',
    );
    expect(new Uint16Array(f16.data.buffer)).toEqual(toF16Array(f32));
    expect(fromF16Array(new Uint16Array(f16.data.buffer)).length).toBe(256 * 96);
  });
});
