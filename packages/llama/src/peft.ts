/**
 * LoRA adapters in the PEFT layout, the de-facto format (what `PeftModel.from_pretrained` reads):
 *   adapter_config.json        {peft_type: "LORA", r, lora_alpha, lora_dropout, target_modules, ...}
 *   adapter_model.safetensors  base_model.model.model.layers.{i}.self_attn.{q,k,v,o}_proj.lora_{A,B}.weight
 *                              base_model.model.model.layers.{i}.mlp.{gate,up,down}_proj.lora_{A,B}.weight
 * with A [r, in] and B [out, r]; the adapted projection is y = W x + scale * B (A x), scale = alpha / r
 * (alpha / sqrt(r) with rsLoRA).
 *
 * Trained embedding rows (LLaRA's `<s1>`..`<s16>` when the user trains them) are saved the way PEFT
 * saves `modules_to_save`: the whole matrix under `base_model.model.model.embed_tokens.weight` (and
 * `base_model.model.lm_head.weight` for an untied head), listed in `modules_to_save`. It is larger than
 * a row delta but every PEFT version loads it.
 *
 * Adapters saved from a bare `LlamaModel` (task_type FEATURE_EXTRACTION, e.g. RepLLaMA's) use the prefix
 * `base_model.model.layers.`; both prefixes are read, `CAUSAL_LM` is written.
 *
 * @example
 * const lora = await readAdapter(memoryFiles({ 'adapter_config.json': c, 'adapter_model.safetensors': w }), config);
 * lora.layers[0].q_proj!.A; // Float32Array [r * hidden]
 */

import { seededRandom } from '@llara/gpu';
import type { LlamaConfig } from './config.ts';
import { describeFile, type ModelFiles, readJson } from './files.ts';
import { readSafetensorsHeader, readTensor, type SafetensorsHeader, tensorToFloat32 } from './safetensors.ts';
import { serializeSafetensors, type TensorToWrite } from './safetensors-writer.ts';

export const LORA_TARGETS = [
  'q_proj',
  'k_proj',
  'v_proj',
  'o_proj',
  'gate_proj',
  'up_proj',
  'down_proj',
] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

/** Modules saved whole (trained embedding rows). */
export type SavedModuleName = 'embed_tokens' | 'lm_head';

export interface LoraConfig {
  r: number;
  alpha: number;
  dropout: number;
  targets: LoraTarget[];
  useRslora: boolean;
  baseModel: string | null;
  modulesToSave: SavedModuleName[];
}

/** One adapted projection: A [r, inDim] and B [outDim, r], row-major f32. */
export interface LoraMatrices {
  A: Float32Array;
  B: Float32Array;
  inDim: number;
  outDim: number;
}

export interface SavedModule {
  rows: number;
  cols: number;
  data: Float32Array;
}

export interface LoraWeights {
  config: LoraConfig;
  /** Per layer, the adapted projections (every target of `config` is present). */
  layers: Array<Partial<Record<LoraTarget, LoraMatrices>>>;
  /** Whole modules trained alongside (`modules_to_save`), [vocab, hidden]. */
  modules?: Partial<Record<SavedModuleName, SavedModule>>;
}

/** The factor applied to B A x. */
export function loraScale(config: LoraConfig): number {
  return config.useRslora ? config.alpha / Math.sqrt(config.r) : config.alpha / config.r;
}

/** Input and output width of a target projection. */
export function loraDims(
  model: Pick<LlamaConfig, 'hiddenSize' | 'numHeads' | 'numKvHeads' | 'headDim' | 'intermediateSize'>,
  target: LoraTarget,
): { inDim: number; outDim: number } {
  const h = model.hiddenSize;
  const q = model.numHeads * model.headDim;
  const kv = model.numKvHeads * model.headDim;
  const i = model.intermediateSize;
  switch (target) {
    case 'q_proj':
      return { inDim: h, outDim: q };
    case 'k_proj':
    case 'v_proj':
      return { inDim: h, outDim: kv };
    case 'o_proj':
      return { inDim: q, outDim: h };
    case 'gate_proj':
    case 'up_proj':
      return { inDim: h, outDim: i };
    case 'down_proj':
      return { inDim: i, outDim: h };
  }
}

const MODULE_OF: Record<LoraTarget, string> = {
  q_proj: 'self_attn',
  k_proj: 'self_attn',
  v_proj: 'self_attn',
  o_proj: 'self_attn',
  gate_proj: 'mlp',
  up_proj: 'mlp',
  down_proj: 'mlp',
};

const CAUSAL_PREFIX = 'base_model.model.model.';
const BARE_PREFIX = 'base_model.model.';

/** The saved key of a LoRA matrix (CAUSAL_LM layout). */
export function loraKey(layer: number, target: LoraTarget, which: 'A' | 'B', prefix = CAUSAL_PREFIX): string {
  return `${prefix}layers.${layer}.${MODULE_OF[target]}.${target}.lora_${which}.weight`;
}

function savedModuleKey(name: SavedModuleName, prefix = CAUSAL_PREFIX): string {
  return name === 'embed_tokens' ? `${prefix}embed_tokens.weight` : 'base_model.model.lm_head.weight';
}

/** Parses adapter_config.json, refusing PEFT options this runner does not implement. */
export function parseAdapterConfig(json: unknown, file = ADAPTER_CONFIG_FILE): LoraConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new Error(`${file} is not a JSON object.`);
  const c = json as Record<string, unknown>;
  function fail(m: string): never {
    throw new Error(`${file}: ${m}.`);
  }
  if (c.peft_type !== 'LORA')
    fail(`"peft_type" is ${JSON.stringify(c.peft_type)} but only "LORA" adapters are supported`);
  const r = c.r;
  if (typeof r !== 'number' || !Number.isInteger(r) || r <= 0)
    fail(`"r" must be a positive integer but is ${JSON.stringify(r)}`);
  const alpha = c.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !(alpha > 0))
    fail(`"lora_alpha" must be a positive number but is ${JSON.stringify(alpha)}`);
  const dropout = c.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || dropout < 0 || dropout >= 1)
    fail(`"lora_dropout" must be in [0, 1) but is ${JSON.stringify(dropout)}`);
  if ((c.bias ?? 'none') !== 'none') fail(`"bias" is ${JSON.stringify(c.bias)} but only "none" is supported`);
  if (c.fan_in_fan_out === true)
    fail('"fan_in_fan_out" is true but only [out, in] weights (false) are supported');
  if (c.use_dora === true) fail('"use_dora" is true but DoRA adapters are not supported');
  if (c.layers_to_transform != null) fail('"layers_to_transform" is set but adapters must cover every layer');
  for (const key of ['rank_pattern', 'alpha_pattern'])
    if (c[key] && typeof c[key] === 'object' && Object.keys(c[key] as object).length > 0)
      fail(`"${key}" is not empty but per-module ranks are not supported`);
  const taskType = c.task_type ?? 'CAUSAL_LM';
  if (taskType !== 'CAUSAL_LM' && taskType !== 'FEATURE_EXTRACTION')
    fail(
      `"task_type" is ${JSON.stringify(taskType)} but only CAUSAL_LM or FEATURE_EXTRACTION adapters are supported`,
    );

  let raw = c.target_modules;
  if (raw === 'all-linear') raw = [...LORA_TARGETS];
  if (typeof raw === 'string') {
    if (!(LORA_TARGETS as readonly string[]).includes(raw))
      fail(
        `"target_modules" is the pattern ${JSON.stringify(raw)} but only a list of projection names is supported`,
      );
    raw = [raw];
  }
  if (!Array.isArray(raw) || raw.length === 0)
    fail('"target_modules" must be a non-empty list of projection names');
  const targets: LoraTarget[] = [];
  for (const m of raw as unknown[]) {
    // PEFT matches suffixes, so "self_attn.q_proj" and "q_proj" name the same projection.
    const name = typeof m === 'string' ? m.split('.').pop()! : '';
    if (!(LORA_TARGETS as readonly string[]).includes(name))
      fail(`"target_modules" lists ${JSON.stringify(m)}, which is not one of ${LORA_TARGETS.join(', ')}`);
    if (!targets.includes(name as LoraTarget)) targets.push(name as LoraTarget);
  }
  targets.sort((a, b) => LORA_TARGETS.indexOf(a) - LORA_TARGETS.indexOf(b));

  const modulesToSave: SavedModuleName[] = [];
  for (const m of (c.modules_to_save as unknown[] | null | undefined) ?? []) {
    if (m !== 'embed_tokens' && m !== 'lm_head')
      fail(`"modules_to_save" lists ${JSON.stringify(m)} but only embed_tokens and lm_head are supported`);
    modulesToSave.push(m);
  }
  const base = c.base_model_name_or_path;
  return {
    r,
    alpha,
    dropout,
    targets,
    useRslora: c.use_rslora === true,
    baseModel: typeof base === 'string' ? base : null,
    modulesToSave,
  };
}

/** adapter_config.json contents for `config` (the fields PEFT needs to load it). */
export function adapterConfigToJson(config: LoraConfig): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: config.r,
    lora_alpha: config.alpha,
    lora_dropout: config.dropout,
    bias: 'none',
    target_modules: [...config.targets],
    fan_in_fan_out: false,
    use_rslora: config.useRslora,
    modules_to_save: config.modulesToSave.length > 0 ? [...config.modulesToSave] : null,
    init_lora_weights: true,
    inference_mode: true,
    base_model_name_or_path: config.baseModel,
  };
}

/**
 * Reads adapter_config.json + adapter_model.safetensors from `files`, checking every matrix against
 * `model` (missing, extra and mis-shaped keys are refused by name). Saved embedding/head matrices may
 * have `vocabSize` rows (default: the model's; pass the extended size for LLaRA's added tokens).
 */
export async function readAdapter(
  files: ModelFiles,
  model: LlamaConfig,
  options: { vocabSize?: number } = {},
): Promise<LoraWeights> {
  const configLabel = describeFile(files, ADAPTER_CONFIG_FILE);
  if (!(await files.has(ADAPTER_CONFIG_FILE))) throw new Error(`${configLabel} does not exist.`);
  const config = parseAdapterConfig(await readJson(files, ADAPTER_CONFIG_FILE), configLabel);
  if (!(await files.has(ADAPTER_WEIGHTS_FILE))) {
    const hint = (await files.has('adapter_model.bin'))
      ? ' (adapter_model.bin is not supported: save with safetensors)'
      : '';
    throw new Error(`${describeFile(files, ADAPTER_WEIGHTS_FILE)} does not exist${hint}.`);
  }
  const header = await readSafetensorsHeader(files, ADAPTER_WEIGHTS_FILE);
  return readAdapterTensors(files, header, config, model, options.vocabSize ?? model.vocabSize);
}

async function readAdapterTensors(
  files: ModelFiles,
  header: SafetensorsHeader,
  config: LoraConfig,
  model: LlamaConfig,
  vocabSize: number,
): Promise<LoraWeights> {
  const file = header.file;
  const names = new Set(header.tensors.keys());
  const prefix = [...names].some((n) => n.startsWith(CAUSAL_PREFIX)) ? CAUSAL_PREFIX : BARE_PREFIX;
  const used = new Set<string>();
  const load = async (key: string, shape: number[]): Promise<Float32Array> => {
    const info = header.tensors.get(key);
    if (!info) throw new Error(`${file} has no tensor ${key}, which its adapter_config.json requires.`);
    if (info.shape.length !== shape.length || info.shape.some((d, k) => d !== shape[k]))
      throw new Error(
        `${file}: tensor ${key} has shape [${info.shape.join(', ')}] but the model implies [${shape.join(', ')}].`,
      );
    used.add(key);
    return tensorToFloat32(await readTensor(files, header, key), `${file}: tensor ${key}`);
  };
  const layers: LoraWeights['layers'] = [];
  for (let l = 0; l < model.numLayers; l++) {
    const layer: Partial<Record<LoraTarget, LoraMatrices>> = {};
    for (const target of config.targets) {
      const { inDim, outDim } = loraDims(model, target);
      const A = await load(loraKey(l, target, 'A', prefix), [config.r, inDim]);
      const B = await load(loraKey(l, target, 'B', prefix), [outDim, config.r]);
      layer[target] = { A, B, inDim, outDim };
    }
    layers.push(layer);
  }
  const modules: Partial<Record<SavedModuleName, SavedModule>> = {};
  for (const m of config.modulesToSave) {
    const data = await load(savedModuleKey(m, prefix), [vocabSize, model.hiddenSize]);
    modules[m] = { rows: vocabSize, cols: model.hiddenSize, data };
  }
  for (const n of names)
    if (!used.has(n))
      throw new Error(
        `${file}: tensor ${n} is not a LoRA matrix of this model as its adapter_config.json describes it.`,
      );
  return config.modulesToSave.length > 0 ? { config, layers, modules } : { config, layers };
}

/** The tensors of adapter_model.safetensors for `weights` (f32, CAUSAL_LM keys). */
export function adapterTensors(weights: LoraWeights): TensorToWrite[] {
  const out: TensorToWrite[] = [];
  const r = weights.config.r;
  weights.layers.forEach((layer, l) => {
    for (const target of weights.config.targets) {
      const m = layer[target];
      if (!m)
        throw new Error(
          `The adapter has no ${target} matrices for layer ${l} although its config lists ${target}.`,
        );
      out.push({ name: loraKey(l, target, 'A'), dtype: 'F32', shape: [r, m.inDim], data: m.A });
      out.push({ name: loraKey(l, target, 'B'), dtype: 'F32', shape: [m.outDim, r], data: m.B });
    }
  });
  for (const name of weights.config.modulesToSave) {
    const m = weights.modules?.[name];
    if (!m) throw new Error(`The adapter lists ${name} in modules_to_save but holds no ${name} matrix.`);
    out.push({ name: savedModuleKey(name), dtype: 'F32', shape: [m.rows, m.cols], data: m.data });
  }
  return out;
}

/** The two files of the PEFT layout, in memory: adapter_config.json text and adapter_model.safetensors. */
export function serializeAdapter(weights: LoraWeights): { configJson: string; safetensors: Uint8Array } {
  return {
    configJson: `${JSON.stringify(adapterConfigToJson(weights.config), null, 2)}\n`,
    safetensors: serializeSafetensors(adapterTensors(weights), { format: 'pt' }),
  };
}

/**
 * A fresh adapter initialised as PEFT does by default: A ~ kaiming_uniform(a = sqrt 5), i.e.
 * U(-1/sqrt(in), 1/sqrt(in)), and B = 0, so the adapted model starts equal to the base model.
 * Deterministic for a given `seed`.
 */
export function initLoraWeights(config: LoraConfig, model: LlamaConfig, seed: number): LoraWeights {
  const rand = seededRandom(seed);
  const layers: LoraWeights['layers'] = [];
  for (let l = 0; l < model.numLayers; l++) {
    const layer: Partial<Record<LoraTarget, LoraMatrices>> = {};
    for (const target of config.targets) {
      const { inDim, outDim } = loraDims(model, target);
      const bound = 1 / Math.sqrt(inDim);
      const A = new Float32Array(config.r * inDim);
      for (let k = 0; k < A.length; k++) A[k] = (2 * rand() - 1) * bound;
      layer[target] = { A, B: new Float32Array(outDim * config.r), inDim, outDim };
    }
    layers.push(layer);
  }
  return { config, layers };
}
