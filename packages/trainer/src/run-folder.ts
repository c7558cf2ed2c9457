/**
 * One training run per output folder (Node only). A fresh run refuses a folder that already holds a
 * run's outputs (checkpoints, adapter/, metrics.jsonl, loss-curve.svg), because continuing into it
 * would mix two runs: the other run's higher-numbered checkpoints would outlive this run's own, and a
 * later resume would pick them up. `resume` continues the run that is there; `overwrite` removes those
 * outputs first (other files in the folder are left alone). Each run has an id, saved in its
 * checkpoints, so that rotation only ever deletes checkpoints of the run doing the rotating.
 *
 * ```ts
 * const run = await openRunFolder('runs/pt', { kind: 'pretrain', mode: 'fresh' }); // throws if taken
 * run.id; // a fresh UUID (a resume adopts the checkpoint's id instead)
 * ```
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';

export type TrainingKind = 'pretrain' | 'finetune';

/** A problem with the output folder that the user can fix (another --out, --resume or --overwrite). */
export class RunFolderError extends Error {
  override name = 'RunFolderError';
  /** Read by the CLI: printed as one sentence with exit code 1. */
  readonly userFacing = true;
}

/** Entries a training run writes into its folder. */
export function isRunOutput(name: string): boolean {
  return (
    /^checkpoint-\d+(\.(old|tmp)-\d+)?$/.test(name) ||
    name === 'adapter' ||
    name === 'metrics.jsonl' ||
    name === 'loss-curve.svg'
  );
}

export interface OpenRunOptions {
  kind: TrainingKind;
  /** fresh: the folder must hold no run; resume: continue the run there; overwrite: clear it first. */
  mode: 'fresh' | 'resume' | 'overwrite';
  /** A metrics file outside the folder (`--log`), refused like the folder's own when a fresh run would truncate it. */
  log?: string;
}

/** Checks (and creates) the output folder of a run; see the file comment. Returns the folder's run outputs. */
export async function openRunFolder(out: string, o: OpenRunOptions): Promise<{ outputs: string[] }> {
  const st = await stat(out).catch(() => null);
  if (st && !st.isDirectory())
    throw new RunFolderError(`The output folder ${out} is a file; give a folder for --out.`);
  const outputs = st ? (await readdir(out)).filter(isRunOutput).sort() : [];
  const logStat = o.log !== undefined && !isInside(o.log, out) ? await stat(o.log).catch(() => null) : null;
  const logTaken = Boolean(logStat?.isFile() && logStat.size > 0);
  if (o.mode === 'fresh' && (outputs.length > 0 || logTaken)) {
    const shown = outputs.length > 4 ? [...outputs.slice(0, 4), '...'] : outputs;
    const what =
      outputs.length > 0
        ? `${out} already holds a training run (${shown.join(', ')})`
        : `${o.log} already holds metrics`;
    throw new RunFolderError(
      `${what}; pass --resume to continue it, --overwrite to replace it, or choose another --out.`,
    );
  }
  if (o.mode === 'overwrite') {
    for (const name of outputs) await rm(join(out, name), { recursive: true, force: true });
    if (logTaken && o.log) await rm(o.log, { force: true });
  }
  try {
    await mkdir(out, { recursive: true });
  } catch (e) {
    throw new RunFolderError(
      `The output folder ${out} cannot be created (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`,
    );
  }
  return { outputs: o.mode === 'overwrite' ? [] : outputs };
}

function isInside(file: string, dir: string): boolean {
  const rel = relative(resolve(dir), resolve(file));
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** A new run id (saved as `run` in each checkpoint's trainer_state.json). */
export const newRunId = (): string => randomUUID();

/**
 * The kind of run a checkpoint's state belongs to: the saved `kind`, or for checkpoints written before
 * it was saved, fine-tuning when its config has a group size.
 */
export function checkpointKind(state: { kind?: unknown; config?: Record<string, unknown> }): TrainingKind {
  if (state.kind === 'pretrain' || state.kind === 'finetune') return state.kind;
  return state.config?.groupSize !== undefined ? 'finetune' : 'pretrain';
}

const KIND_NAME: Record<TrainingKind, string> = { pretrain: 'pretraining', finetune: 'fine-tuning' };

/** Refuses to resume a checkpoint of the other kind (pretrain vs finetune) in one sentence. */
export function checkResumeKind(
  dir: string,
  state: { kind?: unknown; config?: Record<string, unknown> },
  kind: TrainingKind,
): void {
  const saved = checkpointKind(state);
  if (saved !== kind)
    throw new RunFolderError(
      `Cannot resume from ${dir}: it is a ${KIND_NAME[saved]} checkpoint, and this is ${KIND_NAME[kind]}; choose another --out.`,
    );
}

/** The LoRA settings a resume must share with its checkpoint (rank, alpha, dropout, projections). */
export function checkResumeLora(
  dir: string,
  saved: { r: number; alpha: number; dropout: number; targets: readonly string[] },
  wanted: { r: number; alpha: number; dropout: number; targets: readonly string[] },
): void {
  const norm = (t: readonly string[]) => [...t].sort().join(',');
  const pairs: [string, string | number, string | number][] = [
    ['LoRA r', saved.r, wanted.r],
    ['LoRA alpha', saved.alpha, wanted.alpha],
    ['LoRA dropout', saved.dropout, wanted.dropout],
    ['LoRA targets', norm(saved.targets), norm(wanted.targets)],
  ];
  for (const [name, a, b] of pairs)
    if (a !== b)
      throw new RunFolderError(
        `Cannot resume from ${dir}: it was trained with ${name} = ${a}, not ${b}; resume with the same LoRA settings or choose another --out.`,
      );
}
