/**
 * Pretraining on files (Node): reads the data, builds or restores the adapter and optimizer, runs the
 * `Pretrainer`, writes atomic checkpoints every `saveEvery` steps and at the end (PEFT adapter +
 * optimizer moments + data position), a metrics JSONL, the final adapter and a loss-curve SVG.
 * `resume` continues from the newest checkpoint exactly where it stopped; `shouldStop` (e.g. Ctrl-C)
 * ends after the current step with a checkpoint.
 *
 * ```ts
 * await runPretrain(model, tokenizer, rows, { out: 'runs/a', steps: 100, ... });
 * ```
 */
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isQuantFormat } from '@llara/gpu';
import {
  type LlamaConfig,
  type LlamaModel,
  LoraGpu,
  type LoraWeights,
  readAdapter,
  serializeAdapter,
} from '@llara/llama';
import { folderFiles, writeAdapterFolder } from '@llara/llama/node';
import {
  CheckpointError,
  checkpointDirName,
  latestCheckpoint,
  pruneCheckpoints,
  readCheckpoint,
  writeCheckpoint,
} from './checkpoint-io.ts';
import { chunksToPretrainRows, chunkText, parsePretrainJsonl } from './data.ts';
import type { PretrainRow, TokenizerLike } from './layout.ts';
import { lineChartSvg } from './loss-curve-svg.ts';
import { formatMetricsLine, type MetricsLine, parseMetricsLog } from './metrics-log.ts';
import { checkResumable, pretrainRunConfig, restorePretrain } from './pretrain-state.ts';
import { type PretrainConfig, Pretrainer } from './pretrainer.ts';
import { checkResumeKind, checkResumeLora, newRunId, openRunFolder, RunFolderError } from './run-folder.ts';
import { readUtf8File, TextFileError } from './text-file.ts';

export interface PretrainRunOptions extends PretrainConfig {
  out: string;
  /** Metrics JSONL (default OUT/metrics.jsonl). */
  log?: string;
  saveEvery: number;
  /** Checkpoints kept on disk (newest). */
  keepCheckpoints?: number;
  resume: boolean;
  /** Remove the run outputs already in `out` (checkpoints, adapter, metrics) instead of refusing them. */
  overwrite?: boolean;
  onStep?: (m: MetricsLine & { grad_norm: number }) => void;
  shouldStop?: () => boolean;
}

/** Rows from a JSONL file ({input, output_summarize?, output_predict}) or a plain text file cut into chunks. */
export async function readPretrainData(file: string, chunkWords = 128): Promise<PretrainRow[]> {
  let text: string;
  try {
    text = await readUtf8File(file);
  } catch (e) {
    if (e instanceof TextFileError) throw new Error(e.message);
    throw new Error(`The data file ${file} cannot be read (does it exist?).`);
  }
  if (/\.jsonl?$/i.test(file)) return parsePretrainJsonl(text, file);
  const rows = chunksToPretrainRows(chunkText(text, { by: 'words', size: chunkWords }));
  if (rows.length === 0)
    throw new Error(`${file} has too little text for two consecutive chunks of ${chunkWords} words.`);
  return rows;
}

/** The adapter of a checkpoint or adapter folder, checked against the model. */
async function readAdapterDir(dir: string, config: LlamaConfig): Promise<LoraWeights> {
  return readAdapter(folderFiles(dir), config);
}

export async function runPretrain(
  model: LlamaModel,
  config: LlamaConfig,
  tokenizer: TokenizerLike,
  rows: PretrainRow[],
  initial: LoraWeights,
  o: PretrainRunOptions,
): Promise<{ adapterDir: string; lines: MetricsLine[]; stoppedEarly: boolean }> {
  await openRunFolder(o.out, {
    kind: 'pretrain',
    mode: o.resume ? 'resume' : o.overwrite ? 'overwrite' : 'fresh',
    log: o.log,
  });
  const logFile = o.log ?? join(o.out, 'metrics.jsonl');
  const runConfig: Record<string, unknown> = {
    ...pretrainRunConfig(o, rows.length),
    // The base's storage when quantized (QLoRA); absent otherwise, so older checkpoints still resume.
    ...(isQuantFormat(model.weights.layers[0]?.q.dtype) ? { quantize: model.weights.layers[0].q.dtype } : {}),
  };
  const last = o.resume ? await latestCheckpoint(o.out) : null;
  const restored = last ? await readCheckpoint(last) : null;
  if (restored) checkResumeKind(restored.dir, restored.state, 'pretrain');
  const adapter = restored
    ? await readAdapterDir(restored.dir, config).catch((e: Error) => {
        throw new CheckpointError(e.message);
      })
    : initial;
  if (restored) checkResumeLora(restored.dir, adapter.config, initial.config);
  // Rotation deletes only checkpoints that carry this id; a resume continues the checkpoint's run.
  const runId = typeof restored?.state.run === 'string' ? restored.state.run : newRunId();
  model.lora?.destroy();
  model.lora = LoraGpu.upload(model.gpu, model.shape, adapter);
  const trainer = new Pretrainer(model, tokenizer, rows, o);
  let lines: MetricsLine[] = [];
  if (restored) {
    const saved = restored.state.config as Record<string, unknown>;
    try {
      checkResumable(saved, runConfig, restored.dir);
    } catch (e) {
      throw new RunFolderError((e as Error).message);
    }
    // The settings were checked above (a run-folder mistake); what remains is the checkpoint's own
    // content: moments missing or of the wrong size mean a damaged checkpoint.
    try {
      restorePretrain(trainer, restored, runConfig, restored.dir);
    } catch (e) {
      throw new CheckpointError((e as Error).message);
    }
    // Lines logged after the checkpoint belong to steps that will run again: keep only those before it.
    try {
      lines = parseMetricsLog(await readFile(logFile, 'utf8')).filter((l) => l.step < restored.state.step);
    } catch {
      lines = [];
    }
    await writeFile(logFile, lines.map((l) => formatMetricsLine(l)).join(''));
  } else {
    await writeFile(logFile, '');
  }

  const save = async () => {
    const state = await trainer.saveState();
    const weights = await model.lora!.toWeights();
    const { configJson, safetensors } = serializeAdapter(weights);
    const optimizer: Record<string, { shape: number[]; data: Float32Array }> = {};
    model.lora!.parameters().forEach((p, i) => {
      optimizer[`m.${p.name}`] = { shape: [...p.param.shape], data: state.m[i] };
      optimizer[`v.${p.name}`] = { shape: [...p.param.shape], data: state.v[i] };
    });
    await writeCheckpoint(join(o.out, checkpointDirName(state.step)), {
      state: {
        step: state.step,
        data: state.data,
        seed: o.seed,
        config: runConfig,
        kind: 'pretrain',
        run: runId,
      },
      optimizer,
      files: { 'adapter_config.json': configJson, 'adapter_model.safetensors': safetensors },
    });
    await pruneCheckpoints(o.out, o.keepCheckpoints ?? 2, runId);
  };

  let stoppedEarly = false;
  try {
    while (trainer.step < o.steps) {
      const line = await trainer.trainStep();
      lines.push(line);
      await appendFile(logFile, formatMetricsLine(line));
      o.onStep?.(line);
      const done = trainer.step >= o.steps;
      if (o.shouldStop?.() && !done) {
        stoppedEarly = true;
        await save();
        break;
      }
      if (done || (o.saveEvery > 0 && trainer.step % o.saveEvery === 0)) await save();
    }
    const adapterDir = join(o.out, 'adapter');
    await writeAdapterFolder(adapterDir, await model.lora.toWeights());
    if (lines.length > 0) await writeFile(join(o.out, 'loss-curve.svg'), lossCurve(lines));
    return { adapterDir, lines, stoppedEarly };
  } finally {
    trainer.destroy();
  }
}

/** The loss curves (total, EBAE, EBAR, AR) as an SVG line chart. */
export function lossCurve(lines: MetricsLine[], title = 'LLaRA pretext training'): string {
  const series = (key: string, name: string) => ({
    name,
    points: lines.filter((l) => typeof l[key] === 'number').map((l) => [l.step, l[key] as number] as const),
  });
  return lineChartSvg({
    title,
    xLabel: 'optimizer step',
    yLabel: 'loss',
    series: [
      series('loss', 'total'),
      series('bow_ebae', 'EBAE (bow)'),
      series('bow_ebar', 'EBAR (bow)'),
      series('ar', 'AR'),
    ].filter((s) => s.points.length > 0),
  });
}
