/**
 * Contrastive fine-tuning on files (Node): reads the JSONL rows, opens the model folder and the
 * starting PEFT adapter (or makes a fresh one), runs the `Finetuner`, and writes atomic checkpoints
 * every `saveEvery` steps and at the end (PEFT adapter + optimizer moments + data position), a metrics
 * JSONL, the final adapter in OUT/adapter and a loss-curve SVG. `resume` continues from the newest
 * checkpoint exactly where it stopped; `shouldStop` (e.g. Ctrl-C) ends after the current step with a
 * checkpoint. Mistakes in the inputs surface as `FinetuneInputError` (one sentence naming the file).
 *
 * ```ts
 * const r = await runFinetune({
 *   model: 'data/models/stories260K', adapter: 'runs/pt/adapter', data: 'train.jsonl', recipe: 'flag',
 *   out: 'runs/ft', steps: 100, batch: 4, groupSize: 8, tau: 0.02, lr: 3e-4,
 * });
 * r.adapterDir; // 'runs/ft/adapter'
 * ```
 */
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Gpu, QuantFormat } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import {
  initLoraWeights,
  type LlamaConfig,
  type LlamaModel,
  type LlamaTokenizer,
  type LoraConfig,
  LoraGpu,
  type LoraWeights,
  readAdapter,
  serializeAdapter,
  uploadModel,
} from '@llara/llama';
import { folderFiles, openModelFolder, readAdapterFolder, writeAdapterFolder } from '@llara/llama/node';
import {
  CheckpointError,
  checkpointDirName,
  latestCheckpoint,
  pruneCheckpoints,
  readCheckpoint,
  writeCheckpoint,
} from './checkpoint-io.ts';
import { type FinetuneRow, parseFinetuneJsonl } from './data.ts';
import { type FinetuneConfig, type FinetuneMetrics, Finetuner } from './finetuner.ts';
import { passageLayout, queryLayout } from './layout.ts';
import { formatMetricsLine, type MetricsLine, parseMetricsLog } from './metrics-log.ts';
import { lossCurve } from './pretrain-node.ts';
import { checkpointMoments, checkResumable } from './pretrain-state.ts';
import { getRecipe, type Recipe, specialTokensToAppend } from './recipes.ts';
import { checkResumeKind, checkResumeLora, newRunId, openRunFolder } from './run-folder.ts';
import { parseScheduleKind, type ScheduleKind, warmupStepsFromRatio } from './schedule.ts';
import { readUtf8File, TextFileError } from './text-file.ts';

/** A problem with the run's inputs (data, model, adapter, settings, checkpoint) that the user can fix. */
export class FinetuneInputError extends Error {
  override name = 'FinetuneInputError';
  /** Read by the CLI: printed as one sentence with exit code 1. */
  readonly userFacing = true;
}

/** Settings a fine-tuning resume must share with its checkpoint; lr, schedule or chunk may change. */
const FINETUNE_RESUME_KEYS = [
  'recipe',
  'batch',
  'groupSize',
  'tau',
  'gradAccum',
  'seed',
  'rows',
  'queryMaxLen',
  'passageMaxLen',
  'quantize',
] as const;

const asInput = (e: unknown): FinetuneInputError =>
  new FinetuneInputError(e instanceof Error ? e.message : String(e));

export interface FinetuneRunOptions {
  /** Hugging Face LLaMA model folder (with tokenizer.json). */
  model: string;
  /** Starting PEFT adapter folder (e.g. a pretext run's OUT/adapter); without it a fresh one is made. */
  adapter?: string;
  /** LoRA settings of a fresh adapter (default: the recipe's). */
  lora?: Partial<Pick<LoraConfig, 'r' | 'alpha' | 'dropout' | 'targets'>>;
  /** JSONL rows {"query", "pos": [...], "neg": [...]}. */
  data: string;
  recipe: string | Recipe;
  out: string;
  steps: number;
  /** Queries per micro-batch (default 4). */
  batch?: number;
  /** 1 positive + groupSize-1 hard negatives per query (default: the recipe's). */
  groupSize?: number;
  tau?: number;
  /** GradCache chunk in sequences; 0 = plain path (default 0). */
  chunkSize?: number;
  gradAccum?: number;
  lr?: number;
  lrSchedule?: ScheduleKind | string;
  /** Warm-up steps (default: the recipe's ratio of `steps`). */
  warmup?: number;
  weightDecay?: number;
  maxGradNorm?: number;
  queryMaxLen?: number;
  passageMaxLen?: number;
  /** Checkpoint every N steps (0: only at the end). */
  saveEvery?: number;
  /** Checkpoints kept on disk (newest; default 2). */
  keepCheckpoints?: number;
  /** Metrics JSONL (default OUT/metrics.jsonl). */
  log?: string;
  resume?: boolean;
  /** Remove the run outputs already in `out` (checkpoints, adapter, metrics) instead of refusing them. */
  overwrite?: boolean;
  seed?: number;
  /** Use this device instead of opening one (it is left open). */
  gpu?: Gpu;
  /** Train on a frozen block-quantized base (QLoRA; docs/quantization.md). */
  quantize?: QuantFormat;
  onLoad?: (loadedBytes: number, totalBytes: number) => void;
  onStart?: (info: FinetuneStartInfo) => void;
  onStep?: (m: FinetuneMetrics, progress: { done: number; total: number; etaSeconds: number }) => void;
  shouldStop?: () => boolean;
}

export interface FinetuneStartInfo {
  rows: number;
  config: LlamaConfig;
  lora: LoraConfig;
  /** Step the run starts at (> 0 after a resume). */
  startStep: number;
  resumedFrom: string | null;
  device: string;
  /** Settings the data cannot honour as asked (a step larger than the data, groups that repeat negatives). */
  notes: string[];
  settings: Omit<FinetuneConfig, 'recipe' | 'adamw' | 'schedule'> & { recipe: string };
}

export interface FinetuneRunResult {
  adapterDir: string;
  logFile: string;
  lines: MetricsLine[];
  stoppedEarly: boolean;
}

/**
 * Fine-tuning rows from a JSONL file; errors name the file and line. With `groupSize` > 1, every row
 * must have at least one negative.
 */
export async function readFinetuneData(file: string, groupSize = 1): Promise<FinetuneRow[]> {
  let text: string;
  try {
    text = await readUtf8File(file);
  } catch (e) {
    if (e instanceof TextFileError) throw new FinetuneInputError(e.message);
    throw new FinetuneInputError(`The data file ${file} cannot be read (does it exist?).`);
  }
  let rows: FinetuneRow[];
  try {
    rows = parseFinetuneJsonl(text, file);
  } catch (e) {
    throw asInput(e);
  }
  if (groupSize > 1) {
    // Row i is the i-th non-blank line (the parser's rule), which gives the line to name.
    const lines = text.split('\n');
    let row = 0;
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim().length === 0) continue;
      if (rows[row].neg.length === 0)
        throw new FinetuneInputError(
          `${file} line ${i + 1} has no negatives, but a group of ${groupSize} needs ${groupSize - 1} per query.`,
        );
      row++;
    }
  }
  return rows;
}

interface LoadedForTraining {
  gpu: Gpu;
  model: LlamaModel;
  config: LlamaConfig;
  tokenizer: LlamaTokenizer;
  baseVocab: number;
  location: string;
  close(): void;
}

/** The model folder on the GPU, with the recipe's added tokens when the tokenizer lacks them. */
async function loadForTraining(o: FinetuneRunOptions, recipe: Recipe): Promise<LoadedForTraining> {
  let opened: Awaited<ReturnType<typeof openModelFolder>>;
  try {
    opened = await openModelFolder(o.model);
  } catch (e) {
    throw asInput(e);
  }
  const tokenizer = opened.tokenizer;
  if (!tokenizer) throw new FinetuneInputError(`${o.model} has no tokenizer.json.`);
  const added = specialTokensToAppend(recipe, tokenizer);
  if (o.quantize && opened.config.quantization)
    throw new FinetuneInputError(
      `${o.model} is already ${opened.config.quantization}-quantized (config.json's quantization block); drop --quantize ${o.quantize}.`,
    );
  const gpu = o.gpu ?? (await requestNodeGpu());
  try {
    const model = await uploadModel(gpu, opened.config, opened.checkpoint, {
      addedTokens: added,
      quantize: o.quantize,
      onProgress: (p) => o.onLoad?.(p.loadedBytes, opened.checkpoint.totalBytes),
    });
    return {
      gpu,
      model,
      config: opened.config,
      tokenizer,
      baseVocab: opened.config.vocabSize,
      location: opened.files.location,
      close() {
        model.destroy();
        if (!o.gpu) gpu.destroy();
      },
    };
  } catch (e) {
    if (!o.gpu) gpu.destroy();
    throw e;
  }
}

/** Runs (or resumes) a fine-tuning run; see the file comment. */
export async function runFinetune(o: FinetuneRunOptions): Promise<FinetuneRunResult> {
  let recipe: Recipe;
  let kind: ScheduleKind;
  try {
    recipe = typeof o.recipe === 'string' ? getRecipe(o.recipe) : o.recipe;
    kind = parseScheduleKind(o.lrSchedule ?? 'linear');
  } catch (e) {
    throw asInput(e);
  }
  const d = recipe.finetune;
  const lr = o.lr ?? d.lr;
  const settings = {
    recipe: recipe.name,
    batch: o.batch ?? 4,
    groupSize: o.groupSize ?? d.groupSize,
    tau: o.tau ?? d.tau,
    queryMaxLen: o.queryMaxLen ?? d.queryMaxLen,
    passageMaxLen: o.passageMaxLen ?? d.passageMaxLen,
    gradAccum: o.gradAccum ?? 1,
    steps: o.steps,
    seed: o.seed ?? 0,
    chunkSize: o.chunkSize ?? 0,
  };
  for (const [name, v, min] of [
    ['steps', settings.steps, 1],
    ['batch', settings.batch, 1],
    ['group size', settings.groupSize, 1],
    ['gradient accumulation', settings.gradAccum, 1],
    ['GradCache chunk', settings.chunkSize, 0],
  ] as const) {
    if (!Number.isInteger(v) || v < min)
      throw new FinetuneInputError(`The ${name} must be an integer >= ${min}, got ${v}.`);
  }
  if (!(settings.tau > 0))
    throw new FinetuneInputError(`The temperature must be positive, got ${settings.tau}.`);
  const rows = await readFinetuneData(o.data, settings.groupSize);
  // A taken folder fails in a second, before the model loads; --overwrite clears it only later, once
  // every input has been checked.
  await openRunFolder(o.out, {
    kind: 'finetune',
    mode: o.resume || o.overwrite ? 'resume' : 'fresh',
    log: o.log,
  });

  const loaded = await loadForTraining(o, recipe);
  const { model, config, tokenizer } = loaded;
  try {
    // A too-short max length fails here, before any training, rather than at the first step.
    try {
      queryLayout(recipe, tokenizer, rows[0].query, {
        maxLen: settings.queryMaxLen,
        baseVocab: loaded.baseVocab,
      });
      passageLayout(recipe, tokenizer, rows[0].pos[0], {
        maxLen: settings.passageMaxLen,
        baseVocab: loaded.baseVocab,
      });
    } catch (e) {
      throw asInput(e);
    }
    if (o.overwrite && !o.resume)
      await openRunFolder(o.out, { kind: 'finetune', mode: 'overwrite', log: o.log });
    const logFile = o.log ?? join(o.out, 'metrics.jsonl');
    const last = o.resume ? await latestCheckpoint(o.out) : null;
    const restored = last ? await readCheckpoint(last) : null;
    if (restored) checkResumeKind(restored.dir, restored.state, 'finetune');
    let adapter: LoraWeights;
    try {
      // The starting adapter is made (or read) on a resume too: its LoRA settings must match the checkpoint's.
      const initial = o.adapter
        ? await readAdapterFolder(o.adapter, config)
        : initLoraWeights(freshLoraConfig(recipe, o, loaded.location), config, settings.seed);
      adapter = initial;
      if (restored) {
        adapter = await readAdapter(folderFiles(restored.dir), config).catch((e: Error) => {
          throw new CheckpointError(e.message);
        });
        checkResumeLora(restored.dir, adapter.config, initial.config);
      }
    } catch (e) {
      throw e instanceof Error && 'userFacing' in e ? e : asInput(e);
    }
    const runId = typeof restored?.state.run === 'string' ? restored.state.run : newRunId();
    model.lora?.destroy();
    model.lora = LoraGpu.upload(loaded.gpu, model.shape, adapter);

    const warmupSteps = o.warmup ?? warmupStepsFromRatio(d.warmupRatio, settings.steps);
    const ftConfig: FinetuneConfig = {
      ...settings,
      recipe,
      schedule: { kind, lr, warmupSteps, totalSteps: settings.steps },
      adamw: {
        lr,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weightDecay: o.weightDecay ?? 0,
        maxGradNorm: o.maxGradNorm ?? 1,
      },
      baseVocab: loaded.baseVocab,
    };
    const runConfig = {
      ...settings,
      schedule: ftConfig.schedule,
      adamw: ftConfig.adamw,
      rows: rows.length,
      model: loaded.location,
      // Only with a quantized base, so checkpoints made before --quantize existed still resume.
      ...(o.quantize ? { quantize: o.quantize } : {}),
    };
    const trainer = new Finetuner(model, tokenizer, rows, ftConfig);
    try {
      let lines: MetricsLine[] = [];
      if (restored) {
        try {
          checkResumable(
            restored.state.config,
            runConfig as Record<string, unknown>,
            restored.dir,
            FINETUNE_RESUME_KEYS,
          );
          trainer.restoreState({
            step: restored.state.step,
            data: restored.state.data,
            ...checkpointMoments(model.lora.parameters(), restored.optimizer, restored.dir),
          });
        } catch (e) {
          throw asInput(e);
        }
        // Lines logged after the checkpoint belong to steps that run again: keep only those before it.
        try {
          lines = parseMetricsLog(await readFile(logFile, 'utf8'), logFile).filter(
            (l) => l.step < restored.state.step,
          );
        } catch {
          lines = [];
        }
        await writeFile(logFile, lines.map((l) => formatMetricsLine(l)).join(''));
      } else {
        await writeFile(logFile, '');
      }
      o.onStart?.({
        rows: rows.length,
        config,
        lora: adapter.config,
        startStep: trainer.step,
        resumedFrom: restored?.dir ?? null,
        device: loaded.gpu.caps.adapter.device || loaded.gpu.caps.adapter.description,
        notes: dataNotes(rows, settings, o.data, config.maxPositionEmbeddings),
        settings,
      });

      const save = async () => {
        const state = await trainer.saveState();
        const lora = model.lora;
        if (!lora) throw new Error('The model lost its adapter during training.');
        const { configJson, safetensors } = serializeAdapter(await lora.toWeights());
        const optimizer: Record<string, { shape: number[]; data: Float32Array }> = {};
        lora.parameters().forEach((p, i) => {
          optimizer[`m.${p.name}`] = { shape: [...p.param.shape], data: state.m[i] };
          optimizer[`v.${p.name}`] = { shape: [...p.param.shape], data: state.v[i] };
        });
        await writeCheckpoint(join(o.out, checkpointDirName(state.step)), {
          state: {
            step: state.step,
            data: state.data,
            seed: settings.seed,
            config: runConfig,
            kind: 'finetune',
            run: runId,
          },
          optimizer,
          files: { 'adapter_config.json': configJson, 'adapter_model.safetensors': safetensors },
        });
        await pruneCheckpoints(o.out, o.keepCheckpoints ?? 2, runId);
      };

      const saveEvery = o.saveEvery ?? 0;
      const startStep = trainer.step;
      const started = performance.now();
      let stoppedEarly = false;
      while (trainer.step < settings.steps) {
        const line = await trainer.trainStep();
        lines.push(line);
        await appendFile(logFile, formatMetricsLine(line));
        const done = trainer.step;
        const perStep = (performance.now() - started) / 1000 / (done - startStep);
        o.onStep?.(line, { done, total: settings.steps, etaSeconds: perStep * (settings.steps - done) });
        const finished = done >= settings.steps;
        if (o.shouldStop?.() && !finished) {
          stoppedEarly = true;
          await save();
          break;
        }
        if (finished || (saveEvery > 0 && done % saveEvery === 0)) await save();
      }
      const adapterDir = join(o.out, 'adapter');
      await writeAdapterFolder(adapterDir, await model.lora.toWeights());
      if (lines.length > 0)
        await writeFile(join(o.out, 'loss-curve.svg'), lossCurve(lines, 'LLaRA contrastive fine-tuning'));
      return { adapterDir, logFile, lines, stoppedEarly };
    } finally {
      trainer.destroy();
    }
  } finally {
    loaded.close();
  }
}

/** What the user would not expect from these settings on this data (said, not refused). */
function dataNotes(
  rows: FinetuneRow[],
  s: { batch: number; gradAccum: number; groupSize: number; queryMaxLen: number; passageMaxLen: number },
  file: string,
  positions: number,
): string[] {
  const notes: string[] = [];
  const longest = Math.max(s.queryMaxLen, s.passageMaxLen);
  if (positions > 0 && longest > positions)
    notes.push(
      `a max length of ${longest} is beyond the ${positions} positions the model was trained on; RoPE extrapolates past them and quality usually drops`,
    );
  const perStep = s.batch * s.gradAccum;
  if (perStep > rows.length)
    notes.push(
      `each step takes ${perStep} queries but ${file} has ${rows.length} rows, so a step repeats rows`,
    );
  const short = rows.filter((r) => r.neg.length < s.groupSize - 1);
  if (short.length > 0)
    notes.push(
      `a group of ${s.groupSize} needs ${s.groupSize - 1} negatives per query, and ${short.length} of the ${rows.length} rows have fewer (as few as ${Math.min(...short.map((r) => r.neg.length))}), so their negatives repeat within a group`,
    );
  return notes;
}

function freshLoraConfig(recipe: Recipe, o: FinetuneRunOptions, baseModel: string): LoraConfig {
  return {
    r: o.lora?.r ?? recipe.lora.r,
    alpha: o.lora?.alpha ?? recipe.lora.alpha,
    dropout: o.lora?.dropout ?? recipe.lora.dropout,
    targets: o.lora?.targets ?? (recipe.lora.targets as LoraConfig['targets']),
    useRslora: false,
    baseModel,
    modulesToSave: [],
  };
}
