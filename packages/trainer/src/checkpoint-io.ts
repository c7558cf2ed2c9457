/**
 * Training checkpoints on disk (Node only), written so a crash at any point loses nothing already
 * saved: everything goes into `<dir>.tmp-<pid>` (each file fsynced), and only when that directory is
 * complete does it replace `<dir>`: the old one is renamed to `<dir>.old-<pid>`, the new one renamed in,
 * then the old one removed. A crash between the two renames leaves the old one under its `.old-` name,
 * which `readCheckpoint`, `latestCheckpoint` and the next `writeCheckpoint` pick up.
 *
 * A checkpoint directory holds:
 * - `trainer_state.json`: step, data position, rng seed, config (and whatever else the trainer adds);
 * - `optimizer.safetensors`: float32 arrays (AdamW moments) in the safetensors layout, with the
 *   SHA-256 of the data section in `__metadata__.sha256`, checked on read;
 * - any other files the caller passes (the PEFT adapter: `adapter_model.safetensors`, `adapter_config.json`).
 *
 * @example
 * await writeCheckpoint(join(out, checkpointDirName(step)), {
 *   state: { step, data: sampler.state(), seed, config },
 *   optimizer: { 'm.layers.0.q_proj.lora_A': { shape: [4, 64], data: m0 } },
 *   files: { 'adapter_config.json': JSON.stringify(cfg), 'adapter_model.safetensors': bytes },
 * });
 * const last = await latestCheckpoint(out); // '/out/checkpoint-500' or null
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { SamplerState } from './data.ts';

export const TRAINER_STATE_FILE = 'trainer_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';

export interface TrainerState {
  /** Optimizer steps completed. */
  step: number;
  /** Where the data sampler stands (exact resume). */
  data: SamplerState;
  /** The run's random seed. */
  seed: number;
  /** The run's configuration, for checking that a resume continues the same run. */
  config: Record<string, unknown>;
  [extra: string]: unknown;
}

export interface FloatArray {
  shape: number[];
  data: Float32Array;
}

export interface CheckpointContent {
  state: TrainerState;
  /** Float32 arrays saved in `optimizer.safetensors` (e.g. AdamW m and v per parameter). */
  optimizer?: Record<string, FloatArray>;
  /** Other files, written verbatim. */
  files?: Record<string, Uint8Array | string>;
}

/** Test hooks: throw from one to simulate a crash at that point. */
export interface CheckpointFaults {
  afterFile?(name: string): void;
  afterMoveAside?(): void;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

async function writeDurable(path: string, data: Uint8Array | string): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncDir(path: string): Promise<void> {
  // Persists renames in `path`; some platforms cannot open directories for sync, and then the rename
  // is as durable as the OS makes it.
  try {
    const fh = await open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {}
}

/** `<dir>.old-<pid>` directories left by a write that stopped between its two renames. */
async function leftovers(dir: string, kind: 'old' | 'tmp'): Promise<string[]> {
  const parent = dirname(dir);
  const prefix = `${basename(dir)}.${kind}-`;
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(prefix)).map((n) => join(parent, n));
}

/** The directory that holds `dir`'s checkpoint: `dir` itself, or its `.old-` copy after an interrupted swap. */
export async function resolveCheckpointDir(dir: string): Promise<string | null> {
  if (await exists(dir)) return dir;
  const old = await leftovers(dir, 'old');
  return old.length > 0 ? (old.sort().at(-1) ?? null) : null;
}

// ------------------------------------------------------------------------------------ safetensors

/** A safetensors file of float32 arrays (sorted by name), with the data's SHA-256 in the metadata. */
export function encodeFloatSafetensors(arrays: Record<string, FloatArray>): Uint8Array {
  const names = Object.keys(arrays).sort();
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const name of names) {
    const { shape, data } = arrays[name];
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) {
      throw new Error(`Array ${name} has ${data.length} values but shape [${shape.join(', ')}] needs ${n}.`);
    }
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + 4 * n] };
    offset += 4 * n;
  }
  const body = new Uint8Array(offset);
  const hash = createHash('sha256');
  for (const name of names) {
    const { data } = arrays[name];
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const [start] = (header[name] as { data_offsets: number[] }).data_offsets;
    body.set(bytes, start);
  }
  hash.update(body);
  const json = new TextEncoder().encode(
    JSON.stringify({ __metadata__: { format: 'pt', sha256: hash.digest('hex') }, ...header }),
  );
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + body.length).fill(0x20, 8, 8 + padded);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.set(body, 8 + padded);
  return out;
}

/** Reads `encodeFloatSafetensors` output back, checking sizes and the checksum. */
export function decodeFloatSafetensors(bytes: Uint8Array, fileName: string): Record<string, FloatArray> {
  if (bytes.length < 8) throw new Error(`${fileName} is truncated (shorter than its 8-byte header length).`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (8 + headerLen > bytes.length)
    throw new Error(`${fileName} is truncated (its header runs past the end).`);
  let header: Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>
  >;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch {
    throw new Error(`${fileName} has a header that is not valid JSON.`);
  }
  const body = bytes.subarray(8 + headerLen);
  const meta = header.__metadata__ as Record<string, string> | undefined;
  const out: Record<string, FloatArray> = {};
  for (const [name, spec] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const t = spec as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const n = t.shape.reduce((a, b) => a * b, 1);
    const [start, end] = t.data_offsets;
    if (t.dtype !== 'F32' || end - start !== 4 * n)
      throw new Error(`${fileName} has a malformed entry for ${name}.`);
    if (end > body.length) throw new Error(`${fileName} is truncated (${name} runs past the end).`);
    const data = new Float32Array(n);
    new Uint8Array(data.buffer).set(body.subarray(start, end));
    out[name] = { shape: t.shape, data };
  }
  if (meta?.sha256 !== undefined) {
    const actual = createHash('sha256').update(body).digest('hex');
    if (actual !== meta.sha256)
      throw new Error(`${fileName} is corrupt: its data does not match its checksum.`);
  }
  return out;
}

// ------------------------------------------------------------------------------------ write / read

/**
 * Writes a complete checkpoint to `dir`, atomically replacing any previous one (see the file comment).
 * One writer per directory: temp directories left by earlier crashed writes are removed.
 */
export async function writeCheckpoint(
  dir: string,
  content: CheckpointContent,
  faults: CheckpointFaults = {},
): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  const aside = `${dir}.old-${process.pid}`;
  await mkdir(dirname(dir), { recursive: true });
  // An earlier interrupted swap: put the old checkpoint back under its name before replacing it.
  if (!(await exists(dir))) {
    const old = await resolveCheckpointDir(dir);
    if (old) await rename(old, dir);
  }
  for (const stale of await leftovers(dir, 'tmp')) await rm(stale, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });

  const files = { ...(content.files ?? {}) };
  for (const reserved of [TRAINER_STATE_FILE, OPTIMIZER_FILE]) {
    if (reserved in files) throw new Error(`Checkpoint file name ${reserved} is reserved for the trainer.`);
  }
  for (const [name, data] of Object.entries(files)) {
    if (name.includes('/') || name.includes('\\') || name.startsWith('.')) {
      throw new Error(`Checkpoint file name "${name}" must be a plain file name.`);
    }
    await writeDurable(join(tmp, name), data);
    faults.afterFile?.(name);
  }
  if (content.optimizer) {
    await writeDurable(join(tmp, OPTIMIZER_FILE), encodeFloatSafetensors(content.optimizer));
    faults.afterFile?.(OPTIMIZER_FILE);
  }
  // The state goes last: a directory with a readable state is complete.
  await writeDurable(join(tmp, TRAINER_STATE_FILE), `${JSON.stringify(content.state, null, 2)}\n`);
  faults.afterFile?.(TRAINER_STATE_FILE);
  await syncDir(tmp);

  if (await exists(dir)) {
    await rm(aside, { recursive: true, force: true });
    await rename(dir, aside);
    faults.afterMoveAside?.();
    await rename(tmp, dir);
    await syncDir(dirname(dir));
    await rm(aside, { recursive: true, force: true });
  } else {
    await rename(tmp, dir);
  }
  await syncDir(dirname(dir));
}

export interface LoadedCheckpoint {
  /** The directory actually read (differs from the one asked for only after an interrupted swap). */
  dir: string;
  state: TrainerState;
  optimizer: Record<string, FloatArray> | null;
  /** Names of the other files, to read with `readFile(join(dir, name))`. */
  files: string[];
}

/** A checkpoint that cannot be read (missing, incomplete, truncated, corrupt): the user's file to fix. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
  /** Read by the CLI: printed as one sentence with exit code 1. */
  readonly userFacing = true;
}

/** Reads a checkpoint written by `writeCheckpoint`; one-sentence errors (`CheckpointError`) name the file and the problem. */
export async function readCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  try {
    return await readCheckpointUnchecked(dir);
  } catch (e) {
    throw e instanceof CheckpointError ? e : new CheckpointError((e as Error).message);
  }
}

async function readCheckpointUnchecked(dir: string): Promise<LoadedCheckpoint> {
  const where = await resolveCheckpointDir(dir);
  if (!where) throw new Error(`Checkpoint directory ${dir} does not exist.`);
  const statePath = join(where, TRAINER_STATE_FILE);
  let text: string;
  try {
    text = await readFile(statePath, 'utf8');
  } catch {
    throw new Error(`Checkpoint ${where} has no ${TRAINER_STATE_FILE}, so it is incomplete.`);
  }
  let state: TrainerState;
  try {
    state = JSON.parse(text);
  } catch {
    throw new Error(`${statePath} is not valid JSON.`);
  }
  if (
    typeof state?.step !== 'number' ||
    typeof state.data?.index !== 'number' ||
    typeof state.data?.epoch !== 'number'
  ) {
    throw new Error(`${statePath} lacks a numeric step or data position.`);
  }
  const names = await readdir(where);
  const optimizerPath = join(where, OPTIMIZER_FILE);
  const optimizer = names.includes(OPTIMIZER_FILE)
    ? decodeFloatSafetensors(new Uint8Array(await readFile(optimizerPath)), optimizerPath)
    : null;
  return {
    dir: where,
    state,
    optimizer,
    files: names.filter((n) => n !== TRAINER_STATE_FILE && n !== OPTIMIZER_FILE).sort(),
  };
}

/** `checkpoint-<step>`, the Hugging Face Trainer's directory name. */
export function checkpointDirName(step: number): string {
  return `checkpoint-${step}`;
}

async function listCheckpoints(outDir: string): Promise<{ step: number; dir: string }[]> {
  let names: string[];
  try {
    names = await readdir(outDir);
  } catch {
    return [];
  }
  const byStep = new Map<number, string>();
  for (const name of names) {
    const m = /^checkpoint-(\d+)(\.old-\d+)?$/.exec(name);
    if (!m) continue;
    const step = Number(m[1]);
    const isOld = m[2] !== undefined;
    // A `.old-` copy stands in only for a checkpoint whose swap was interrupted.
    if (isOld && names.includes(checkpointDirName(step))) continue;
    if (!isOld || !byStep.has(step)) byStep.set(step, join(outDir, name));
  }
  const out: { step: number; dir: string }[] = [];
  for (const [step, dir] of byStep) {
    if (await exists(join(dir, TRAINER_STATE_FILE))) out.push({ step, dir });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** The newest complete `checkpoint-<step>` under `outDir` (temp directories are ignored), or null. */
export async function latestCheckpoint(outDir: string): Promise<string | null> {
  const all = await listCheckpoints(outDir);
  return all.length > 0 ? all[all.length - 1].dir : null;
}

/** The `run` id saved in a checkpoint's state, or undefined (none saved, or unreadable). */
async function runOf(dir: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(join(dir, TRAINER_STATE_FILE), 'utf8'))?.run;
  } catch {
    return undefined;
  }
}

/**
 * Removes all but the newest `keep` checkpoints; returns the removed directories. With `run`, only
 * checkpoints whose state names that run count (and are removed): another run's are never touched.
 */
export async function pruneCheckpoints(outDir: string, keep: number, run?: string): Promise<string[]> {
  let all = await listCheckpoints(outDir);
  if (run !== undefined) {
    const mine: { step: number; dir: string }[] = [];
    for (const c of all) if ((await runOf(c.dir)) === run) mine.push(c);
    all = mine;
  }
  const remove = all.slice(0, Math.max(0, all.length - Math.max(1, keep)));
  for (const c of remove) await rm(c.dir, { recursive: true, force: true });
  return remove.map((c) => c.dir);
}
