/**
 * `llara export`: an adapter as a PEFT folder, or (`--merge`) a standalone HF model folder with the
 * adapter folded into the weights and the recipe's added tokens registered, written in f32/f16/bf16,
 * sharded like transformers, re-read and checked before the command reports success; or
 * (`--quantize`) the base model block-quantized (docs/quantization.md), loadable without re-quantizing.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { QuantFormat } from '@llara/gpu';
import type { AddedTokenSpec, LoraWeights, OpenedModel } from '@llara/llama';
import {
  ADAPTER_WEIGHTS_FILE,
  mergeModel,
  readJson,
  specialTokensMapWithTokens,
  tokenizerConfigWithTokens,
  tokenizerJsonWithTokens,
} from '@llara/llama';
import {
  createQuantizePool,
  type ExportDType,
  parseByteSize,
  readAdapterFolder,
  writeAdapterFolder,
  writeModelFolder,
  writeQuantizedFolder,
} from '@llara/llama/node';
import { flagSpecialIds, type Recipe } from '@llara/trainer';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { UserError } from '../errors.ts';
import { checkQuantize, openModelOrFail, recipeOrFail } from '../model-loader.ts';
import { prepareOutputDir } from '../output-paths.ts';
import { defaultModelDir } from '../paths.ts';
import { progress } from '../progress.ts';
import { quantizeOption } from '../quantize-option.ts';

/** Files of the base folder copied unchanged into a merged export when present. */
const COPIED = ['generation_config.json', 'tokenizer.model', 'LICENSE'];
const TORCH_DTYPE: Record<ExportDType, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** The recipe's tokens the base tokenizer lacks, at the ids the GPU loader gives them. */
export function tokensToAdd(
  opened: OpenedModel,
  recipe: Recipe,
): { add: AddedTokenSpec[]; all: AddedTokenSpec[] } {
  const spec = recipe.specialTokens;
  const tok = opened.tokenizer;
  if (!spec || !tok) return { add: [], all: [] };
  const known = spec.names.map((n) => tok.tokenToId(n));
  if (known.every((id) => id !== undefined))
    return { add: [], all: spec.names.map((content, k) => ({ content, id: known[k]!, special: true })) };
  const { ebae, ebar } = flagSpecialIds(opened.config.vocabSize, recipe);
  const ids = [...ebae, ...ebar];
  const all = spec.names.map((content, k) => ({ content, id: ids[k], special: true }));
  return { add: all, all };
}

async function requireEmptyOut(out: string): Promise<void> {
  const st = await stat(out).catch(() => null);
  // Writable checked before the model is read: a read-only target fails in one sentence, up front.
  if (!st) return prepareOutputDir(dirname(resolve(out)), '--out');
  if (!st.isDirectory() || (await readdir(out)).length > 0)
    throw new UserError(`--out ${out} already exists and is not an empty folder; choose a new one.`);
  await prepareOutputDir(out, '--out');
}

function parseDType(v: string): ExportDType {
  const d = v.toLowerCase();
  if (d === 'f32' || d === 'f16' || d === 'bf16') return d.toUpperCase() as ExportDType;
  throw new InvalidArgumentError(`--dtype must be f32, f16 or bf16, got "${v}".`);
}

function parseShardSize(v: string): number {
  try {
    return parseByteSize(v);
  } catch (e) {
    throw new InvalidArgumentError(`--shard-size: ${(e as Error).message}`);
  }
}

interface ExportFlags {
  model?: string;
  adapter?: string;
  recipe: string;
  out: string;
  merge?: boolean;
  dtype?: ExportDType;
  shardSize: number;
  quantize?: QuantFormat;
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description(
      'Write an adapter as a PEFT folder, or with --merge a standalone HF model folder (adapter folded in, recipe tokens added).',
    )
    .requiredOption('--out <dir>', 'new output folder')
    .option('--model <dir>', 'HF LLaMA model folder (default: bundled stories260K)')
    .option('--adapter <dir>', 'PEFT LoRA adapter folder (required without --merge)')
    .option('--recipe <name>', 'flag | paper | repllama (flag adds <s1>..<s16>)', 'flag')
    .option('--merge', 'fold the adapter into the weights: W + (alpha / r) B A')
    .option(
      '--dtype <dtype>',
      "f32 | f16 | bf16 weights of a merged model (default: the base model's)",
      parseDType,
    )
    .addOption(
      new Option('--shard-size <size>', 'largest safetensors file of a merged model (e.g. 2GB, 500MB)')
        .argParser(parseShardSize)
        .default(2e9, '2GB'),
    )
    .addOption(quantizeOption('write the base model block-quantized (q8, q4 or nf4) with f32 norms'))
    .addHelpText(
      'after',
      '\nExample:\n  pnpm llara export --adapter run/adapter --out adapter-copy\n  pnpm llara export --adapter run/adapter --merge --dtype bf16 --out merged-model',
    )
    .action(async (f: ExportFlags) => {
      const recipe = recipeOrFail(f.recipe);
      if (f.quantize) return exportQuantized(f, f.quantize);
      if (!f.merge && !f.adapter)
        throw new UserError('--adapter is required (or pass --merge to export the model).');
      if (!f.merge && f.dtype && f.dtype !== 'F32')
        throw new UserError('--dtype applies to --merge only; adapters are written in f32.');
      await requireEmptyOut(f.out);
      const dir = f.model ?? defaultModelDir();
      const opened = await openModelOrFail(dir);
      if (f.merge && opened.config.quantization)
        throw new UserError(
          `${dir} is ${opened.config.quantization}-quantized and cannot be merged: merge the adapter into the f16 base it came from (--merge --model BASE), then quantize that folder with --quantize.`,
        );
      const tokens = tokensToAdd(opened, recipe);
      let lora: LoraWeights | undefined;
      if (f.adapter) {
        const vocabSize = opened.config.vocabSize + tokens.add.length;
        lora = await readAdapterFolder(f.adapter, opened.config, { vocabSize }).catch((e: Error) => {
          throw new UserError(e.message);
        });
      }
      if (f.merge) await exportMerged(opened, lora, tokens, f);
      else await exportAdapter(opened, lora!, tokens.add.length, f);
    });
}

/** `--quantize`: the base model alone, quantized, verified, then renamed into place. */
async function exportQuantized(f: ExportFlags, format: QuantFormat): Promise<void> {
  if (f.merge)
    throw new UserError(
      '--quantize and --merge do not combine: merge into the full-precision base first (--merge --out MERGED), then quantize MERGED with --quantize.',
    );
  if (f.adapter)
    throw new UserError(
      '--quantize writes the base model alone; drop --adapter and load the adapter on top of the quantized folder (--adapter).',
    );
  if (f.dtype) throw new UserError('--dtype applies to --merge only; --quantize writes its own layout.');
  await requireEmptyOut(f.out);
  const dir = f.model ?? defaultModelDir();
  const opened = await openModelOrFail(dir);
  checkQuantize(dir, opened, format);
  const bar = progress('quantizing', opened.checkpoint.names.length, 'tensors');
  let report: Awaited<ReturnType<typeof writeQuantizedFolder>>;
  const pool = createQuantizePool();
  try {
    report = await writeQuantizedFolder(f.out, opened, format, {
      shardBytes: f.shardSize,
      onTensor: (_n, i) => bar.update(i + 1),
      quantizeTensor: pool.quantize,
    });
  } catch (e) {
    throw new UserError((e as Error).message);
  } finally {
    bar.stop();
    await pool.close();
  }
  console.log(
    JSON.stringify({
      out: f.out,
      quantization: format,
      tensors: report.tensors,
      files: report.weightFiles,
      bytes: report.totalBytes,
    }),
  );
}

/** Writes the adapter, re-reads it and compares every matrix exactly. */
async function exportAdapter(
  opened: OpenedModel,
  lora: LoraWeights,
  added: number,
  f: ExportFlags,
): Promise<void> {
  await writeAdapterFolder(f.out, lora);
  const vocabSize = opened.config.vocabSize + added;
  try {
    const back = await readAdapterFolder(f.out, opened.config, { vocabSize });
    lora.layers.forEach((layer, l) => {
      for (const t of lora.config.targets) {
        const a = layer[t]!;
        const b = back.layers[l][t]!;
        if (!sameValues(a.A, b.A) || !sameValues(a.B, b.B))
          throw new Error(
            `${join(f.out, ADAPTER_WEIGHTS_FILE)}: layer ${l} ${t} as read back differs from the adapter.`,
          );
      }
    });
    for (const m of lora.config.modulesToSave)
      if (!sameValues(lora.modules![m]!.data, back.modules?.[m]?.data))
        throw new Error(`${join(f.out, ADAPTER_WEIGHTS_FILE)}: ${m} as read back differs from the adapter.`);
  } catch (e) {
    // --out was absent or empty before, so everything in it is this run's partial output.
    await rm(f.out, { recursive: true, force: true });
    throw new UserError((e as Error).message);
  }
  console.log(JSON.stringify({ out: f.out, merged: false, r: lora.config.r, targets: lora.config.targets }));
}

function sameValues(a: Float32Array, b: Float32Array | undefined): boolean {
  if (!b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

async function exportMerged(
  opened: OpenedModel,
  lora: LoraWeights | undefined,
  tokens: { add: AddedTokenSpec[]; all: AddedTokenSpec[] },
  f: ExportFlags,
): Promise<void> {
  const files = opened.files;
  const sourceDtype = opened.checkpoint.infos.get('model.embed_tokens.weight')?.dtype;
  const dtype: ExportDType =
    f.dtype ?? (sourceDtype === 'F16' || sourceDtype === 'BF16' ? sourceDtype : 'F32');
  const merged = mergeModel(opened.config, opened.checkpoint, { lora, addedTokens: tokens.add.length });
  const json = async (name: string) => ((await files.has(name)) ? await readJson(files, name) : null);
  const config = (await readJson(files, 'config.json')) as Record<string, unknown>;
  const out: Record<string, string | Uint8Array> = {};
  const text = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  out['config.json'] = text({
    ...config,
    vocab_size: merged.config.vocabSize,
    torch_dtype: TORCH_DTYPE[dtype],
    ...('dtype' in config ? { dtype: TORCH_DTYPE[dtype] } : {}),
  });
  try {
    out['tokenizer.json'] = text(
      tokenizerJsonWithTokens(await readJson(files, 'tokenizer.json'), tokens.add, opened.tokenizer!.file),
    );
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  const tokConfig = await json('tokenizer_config.json');
  if (tokConfig !== null || tokens.add.length > 0)
    out['tokenizer_config.json'] = text(
      tokens.add.length ? tokenizerConfigWithTokens(tokConfig, tokens.add) : tokConfig,
    );
  const specialMap = await json('special_tokens_map.json');
  if (specialMap !== null || tokens.add.length > 0)
    out['special_tokens_map.json'] = text(
      tokens.add.length ? specialTokensMapWithTokens(specialMap, tokens.add) : specialMap,
    );
  for (const name of COPIED) if (await files.has(name)) out[name] = await files.read(name);

  const total = merged.names.reduce((s, n) => s + merged.shapes.get(n)!.reduce((a, b) => a * b, 1), 0);
  const bar = progress(lora ? 'merging' : 'writing', total * (dtype === 'F32' ? 4 : 2), 'bytes');
  let report: Awaited<ReturnType<typeof writeModelFolder>>;
  try {
    report = await writeModelFolder(f.out, merged, {
      dtype,
      shardBytes: f.shardSize,
      files: out,
      expectTokens: tokens.all,
      onProgress: (p) => bar.update(p.bytes),
    });
  } catch (e) {
    throw new UserError((e as Error).message);
  } finally {
    bar.stop();
  }
  console.log(
    JSON.stringify({
      out: f.out,
      merged: true,
      dtype: dtype.toLowerCase(),
      vocab: merged.config.vocabSize,
      addedTokens: tokens.add.length,
      tensors: report.tensors,
      files: report.weightFiles,
      bytes: report.totalBytes,
    }),
  );
}
