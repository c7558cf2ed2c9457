import { promises as fs, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseLlamaConfig } from './config.ts';
import { memoryFiles } from './files.ts';
import { folderFiles, readAdapterFolder, writeAdapterFolder } from './node.ts';
import {
  adapterTensors,
  initLoraWeights,
  type LoraWeights,
  loraKey,
  loraScale,
  parseAdapterConfig,
  readAdapter,
  serializeAdapter,
} from './peft.ts';
import { serializeSafetensors } from './safetensors-writer.ts';

const ADAPTER = new URL('../../../data/goldens/llara-flag-stories260K/adapter/', import.meta.url).pathname;
const config = parseLlamaConfig(
  JSON.parse(readFileSync(new URL('../../../data/models/stories260K/config.json', import.meta.url), 'utf8')),
);
const goldenConfig = JSON.parse(readFileSync(`${ADAPTER}adapter_config.json`, 'utf8'));
const goldenBytes = new Uint8Array(readFileSync(`${ADAPTER}adapter_model.safetensors`));
const tmp = await fs.mkdtemp(path.join(tmpdir(), 'llara-peft-'));
afterAll(() => fs.rm(tmp, { recursive: true, force: true }));

/** Adapter files in memory, with tensors changed by `edit`. */
function adapterFiles(
  weights: LoraWeights,
  edit?: (t: ReturnType<typeof adapterTensors>) => void,
  cfg = goldenConfig,
) {
  const tensors = adapterTensors(weights);
  edit?.(tensors);
  return memoryFiles(
    {
      'adapter_config.json': new TextEncoder().encode(JSON.stringify(cfg)),
      'adapter_model.safetensors': serializeSafetensors(tensors),
    },
    'adapter',
  );
}

describe('PEFT adapters', () => {
  it('reads the golden stories260K adapter (r 4, alpha 8, all 7 projections)', async () => {
    const lora = await readAdapterFolder(ADAPTER, config);
    expect(lora.config).toEqual({
      r: 4,
      alpha: 8,
      dropout: 0,
      targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      useRslora: false,
      baseModel: 'stories260K',
      modulesToSave: [],
    });
    expect(loraScale(lora.config)).toBe(2);
    expect(lora.layers).toHaveLength(5);
    const down = lora.layers[4].down_proj!;
    expect([down.inDim, down.outDim, down.A.length, down.B.length]).toEqual([172, 64, 4 * 172, 64 * 4]);
    expect(lora.layers[0].k_proj!.B.length).toBe(32 * 4);
    // B is trained away from zero in this golden (else the test below would be trivial).
    expect(lora.layers[0].q_proj!.B.some((v) => v !== 0)).toBe(true);
  });

  it('writes it back byte for byte, and a reload is equal', async () => {
    const lora = await readAdapterFolder(ADAPTER, config);
    const { configJson, safetensors } = serializeAdapter(lora);
    expect(safetensors).toEqual(goldenBytes);
    const dir = path.join(tmp, 'copy');
    await writeAdapterFolder(dir, lora);
    expect(new Uint8Array(await fs.readFile(path.join(dir, 'adapter_model.safetensors')))).toEqual(
      goldenBytes,
    );
    const written = JSON.parse(await fs.readFile(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(written).toMatchObject(goldenConfig);
    expect(JSON.parse(configJson)).toEqual(written);
    expect(await readAdapterFolder(dir, config)).toEqual(lora);
  });

  it('refuses a missing matrix, a mis-shaped one and an extra one by name', async () => {
    const lora = await readAdapterFolder(ADAPTER, config);
    const q3 = loraKey(3, 'q_proj', 'A');
    await expect(
      readAdapter(
        adapterFiles(lora, (t) =>
          t.splice(
            t.findIndex((x) => x.name === q3),
            1,
          ),
        ),
        config,
      ),
    ).rejects.toThrow(
      `adapter/adapter_model.safetensors has no tensor ${q3}, which its adapter_config.json requires.`,
    );
    await expect(readAdapter(adapterFiles(lora), { ...config, intermediateSize: 170 })).rejects.toThrow(
      'adapter/adapter_model.safetensors: tensor base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight has shape [172, 4] but the model implies [170, 4].',
    );
    await expect(readAdapter(adapterFiles(lora), { ...config, numLayers: 4 })).rejects.toThrow(
      'tensor base_model.model.model.layers.4.mlp.down_proj.lora_A.weight is not a LoRA matrix of this model',
    );
    const noK = {
      ...goldenConfig,
      target_modules: ['q_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    };
    await expect(readAdapter(adapterFiles(lora, undefined, noK), config)).rejects.toThrow(
      'tensor base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight is not a LoRA matrix',
    );
  });

  it('reads adapters saved from a bare LlamaModel (FEATURE_EXTRACTION prefix)', async () => {
    const lora = await readAdapterFolder(ADAPTER, config);
    const files = adapterFiles(
      lora,
      (t) => {
        for (const x of t) x.name = x.name.replace('base_model.model.model.', 'base_model.model.');
      },
      { ...goldenConfig, task_type: 'FEATURE_EXTRACTION' },
    );
    expect((await readAdapter(files, config)).layers).toEqual(lora.layers);
  });

  it('saves and reloads trained embedding rows as modules_to_save', async () => {
    const base = initLoraWeights(parseAdapterConfig(goldenConfig), config, 3);
    const rows = 528;
    const embed = Float32Array.from({ length: rows * 64 }, (_, i) => Math.cos(i));
    const lora: LoraWeights = {
      config: { ...base.config, modulesToSave: ['embed_tokens'] },
      layers: base.layers,
      modules: { embed_tokens: { rows, cols: 64, data: embed } },
    };
    const { configJson, safetensors } = serializeAdapter(lora);
    expect(JSON.parse(configJson).modules_to_save).toEqual(['embed_tokens']);
    const files = memoryFiles({
      'adapter_config.json': new TextEncoder().encode(configJson),
      'adapter_model.safetensors': safetensors,
    });
    await expect(readAdapter(files, config)).rejects.toThrow(
      'tensor base_model.model.model.embed_tokens.weight has shape [528, 64] but the model implies [512, 64].',
    );
    const back = await readAdapter(files, config, { vocabSize: rows });
    expect(back.modules?.embed_tokens?.data).toEqual(embed);
  });

  it('initialises as PEFT does: A uniform within 1/sqrt(in), B zero, deterministic', () => {
    const cfg = parseAdapterConfig({
      peft_type: 'LORA',
      r: 8,
      lora_alpha: 16,
      target_modules: ['q_proj', 'down_proj'],
    });
    const a = initLoraWeights(cfg, config, 7);
    const b = initLoraWeights(cfg, config, 7);
    expect(a).toEqual(b);
    const down = a.layers[2].down_proj!;
    const bound = 1 / Math.sqrt(172);
    expect(down.A.every((v) => Math.abs(v) <= bound)).toBe(true);
    expect(Math.max(...down.A.map(Math.abs))).toBeGreaterThan(0.9 * bound);
    expect(down.B.every((v) => v === 0)).toBe(true);
    expect(a.layers[0].k_proj).toBeUndefined();
  });

  const refusals: Array<[string, Record<string, unknown>, string]> = [
    [
      'another peft_type',
      { peft_type: 'IA3' },
      '"peft_type" is "IA3" but only "LORA" adapters are supported',
    ],
    ['DoRA', { use_dora: true }, '"use_dora" is true'],
    ['a regex target', { target_modules: '.*proj' }, '"target_modules" is the pattern ".*proj"'],
    ['an unknown target', { target_modules: ['q_proj', 'lm_head'] }, '"target_modules" lists "lm_head"'],
    ['per-module ranks', { rank_pattern: { q_proj: 8 } }, '"rank_pattern" is not empty'],
    ['a bias', { bias: 'all' }, '"bias" is "all"'],
    ['fan_in_fan_out', { fan_in_fan_out: true }, '"fan_in_fan_out" is true'],
    ['a bad rank', { r: 0 }, '"r" must be a positive integer but is 0'],
  ];
  for (const [what, patch, message] of refusals) {
    it(`refuses ${what} in adapter_config.json`, () => {
      expect(() => parseAdapterConfig({ ...goldenConfig, ...patch }, 'a/adapter_config.json')).toThrow(
        `a/adapter_config.json: ${message}`,
      );
    });
  }

  it('accepts all-linear and module paths as target_modules', () => {
    expect(parseAdapterConfig({ ...goldenConfig, target_modules: 'all-linear' }).targets).toHaveLength(7);
    expect(
      parseAdapterConfig({ ...goldenConfig, target_modules: ['self_attn.v_proj', 'q_proj'] }).targets,
    ).toEqual(['q_proj', 'v_proj']);
  });

  it('names a missing adapter folder or file', async () => {
    await expect(readAdapterFolder('/nonexistent/adapter', config)).rejects.toThrow(
      'The adapter folder /nonexistent/adapter does not exist.',
    );
    await expect(readAdapter(folderFiles(tmp), config)).rejects.toThrow(
      `${tmp}/adapter_config.json does not exist.`,
    );
  });
});
