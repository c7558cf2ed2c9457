/**
 * Training checkpoints in the Origin Private File System (the page's own private storage), written so
 * that a crash, a closed tab or a full disk at any point loses nothing already saved.
 *
 * Layout under `llara-train/`:
 * - `run.json`: the run's settings and its pretraining rows (a reload may no longer have the documents);
 * - `checkpoint-<step>/`: `trainer_state.json` (step, data cursor, seed, config: the sampler's state is
 *   the whole RNG state, since every other random draw is a pure function of seed and step),
 *   `optimizer.safetensors` (AdamW m and v), the PEFT adapter files and `metrics.jsonl` (the losses so far);
 * - `current.json`: the pointer, `{"checkpoint": "checkpoint-<step>", "step": <step>}`.
 *
 * Atomicity: a save writes a complete new `checkpoint-<step>/` first, then replaces `current.json`.
 * `createWritable()` writes to a hidden swap file and only `close()` swaps it in, so the pointer names
 * either the old complete checkpoint or the new complete one, never a half-written file; only after the
 * swap are older checkpoint folders removed. Folders the pointer does not name (a save that failed
 * half-way) are ignored on read and removed by the next save.
 *
 * @example
 * const store = await OpfsCheckpoints.open();
 * await store.save(await snapshotPretrain(trainer, runConfig), lines);
 * const last = await store.latest(); // { step, snapshot, lines } or null
 */
import {
  memoryFiles,
  readSafetensorsHeader,
  readTensor,
  serializeSafetensors,
  tensorToFloat32,
} from '@llara/llama';
import {
  formatMetricsLine,
  type MetricsLine,
  type PretrainRow,
  type PretrainSnapshot,
  parseMetricsLog,
} from '@llara/trainer';
import type { TrainSettings } from './settings.ts';

export const STORE_DIR = 'llara-train';
const RUN_FILE = 'run.json';
const POINTER_FILE = 'current.json';
const STATE_FILE = 'trainer_state.json';
const OPTIMIZER_FILE = 'optimizer.safetensors';
const METRICS_FILE = 'metrics.jsonl';
const ADAPTER_FILES = ['adapter_config.json', 'adapter_model.safetensors'] as const;

export interface SavedRun {
  settings: TrainSettings;
  rows: PretrainRow[];
}

export interface SavedCheckpoint {
  step: number;
  snapshot: PretrainSnapshot;
  /** Metrics of the steps before `step`. */
  lines: MetricsLine[];
}

/** A full disk: what the page says instead of the browser's QuotaExceededError text. */
export class StorageFullError extends Error {
  override name = 'StorageFullError';
}

function isQuotaError(e: unknown): boolean {
  return e instanceof DOMException && (e.name === 'QuotaExceededError' || e.code === 22);
}

async function writeFile(
  dir: FileSystemDirectoryHandle,
  name: string,
  data: Uint8Array | string,
): Promise<void> {
  const handle = await dir.getFileHandle(name, { create: true });
  const stream = await handle.createWritable();
  try {
    await stream.write(typeof data === 'string' ? data : new Uint8Array(data));
    await stream.close();
  } catch (e) {
    // Aborting drops the swap file: the file keeps its previous contents.
    await stream.abort().catch(() => {});
    throw e;
  }
}

/** The names in a folder (collected first: removing entries while iterating skips some). */
async function entryNames(dir: FileSystemDirectoryHandle): Promise<string[]> {
  // TypeScript's DOM library declares the async iteration only in DOM.AsyncIterable.
  const names: string[] = [];
  for await (const name of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
  return names;
}

async function readBytes(dir: FileSystemDirectoryHandle, name: string): Promise<Uint8Array> {
  const file = await (await dir.getFileHandle(name)).getFile();
  return new Uint8Array(await file.arrayBuffer());
}

async function readText(dir: FileSystemDirectoryHandle, name: string): Promise<string> {
  return (await (await dir.getFileHandle(name)).getFile()).text();
}

export class OpfsCheckpoints {
  private constructor(readonly dir: FileSystemDirectoryHandle) {}

  /** The store, or a one-sentence error when this browser has no Origin Private File System. */
  static async open(name = STORE_DIR): Promise<OpfsCheckpoints> {
    const storage = (globalThis as { navigator?: Navigator }).navigator?.storage;
    if (typeof storage?.getDirectory !== 'function')
      throw new Error('This browser has no Origin Private File System, so training cannot save checkpoints.');
    const root = await storage.getDirectory();
    return new OpfsCheckpoints(await root.getDirectoryHandle(name, { create: true }));
  }

  /** Starts a new run: removes the previous one and saves settings and rows. */
  async startRun(run: SavedRun): Promise<void> {
    await this.clear();
    await this.guard(null, () => writeFile(this.dir, RUN_FILE, JSON.stringify(run)));
  }

  async run(): Promise<SavedRun | null> {
    try {
      return JSON.parse(await readText(this.dir, RUN_FILE)) as SavedRun;
    } catch {
      return null;
    }
  }

  /** Removes everything saved. */
  async clear(): Promise<void> {
    for (const name of await entryNames(this.dir)) await this.dir.removeEntry(name, { recursive: true });
  }

  /** The step the pointer names, or null when nothing complete is saved. */
  async currentStep(): Promise<number | null> {
    try {
      const p = JSON.parse(await readText(this.dir, POINTER_FILE)) as { checkpoint: string; step: number };
      await this.dir.getDirectoryHandle(p.checkpoint);
      return typeof p.step === 'number' ? p.step : null;
    } catch {
      return null;
    }
  }

  /** Saves a checkpoint atomically (see the file comment); a full disk throws `StorageFullError`. */
  async save(snapshot: PretrainSnapshot, lines: readonly MetricsLine[]): Promise<void> {
    const step = snapshot.state.step;
    const name = `checkpoint-${step}`;
    const previous = await this.currentStep();
    if (previous === step) return;
    await this.guard(previous, async () => {
      // A folder of this name that the pointer does not name is a failed earlier save.
      await this.dir.removeEntry(name, { recursive: true }).catch(() => {});
      const dir = await this.dir.getDirectoryHandle(name, { create: true });
      for (const file of ADAPTER_FILES) await writeFile(dir, file, snapshot.files[file]);
      const tensors = Object.entries(snapshot.optimizer).map(([n, a]) => ({
        name: n,
        dtype: 'F32' as const,
        shape: a.shape,
        data: a.data,
      }));
      await writeFile(dir, OPTIMIZER_FILE, serializeSafetensors(tensors));
      await writeFile(
        dir,
        METRICS_FILE,
        lines
          .filter((l) => l.step < step)
          .map((l) => formatMetricsLine(l))
          .join(''),
      );
      await writeFile(dir, STATE_FILE, JSON.stringify(snapshot.state));
      await writeFile(this.dir, POINTER_FILE, JSON.stringify({ checkpoint: name, step }));
    });
    for (const entry of await entryNames(this.dir)) {
      if (entry.startsWith('checkpoint-') && entry !== name)
        await this.dir.removeEntry(entry, { recursive: true }).catch(() => {});
    }
  }

  /** The checkpoint the pointer names, or null; a damaged one throws one sentence. */
  async latest(): Promise<SavedCheckpoint | null> {
    let pointer: { checkpoint: string; step: number };
    try {
      pointer = JSON.parse(await readText(this.dir, POINTER_FILE));
    } catch {
      return null;
    }
    const where = `the saved checkpoint ${pointer.checkpoint}`;
    try {
      const dir = await this.dir.getDirectoryHandle(pointer.checkpoint);
      const state = JSON.parse(await readText(dir, STATE_FILE)) as PretrainSnapshot['state'];
      const optFiles = memoryFiles({ [OPTIMIZER_FILE]: await readBytes(dir, OPTIMIZER_FILE) }, where);
      const header = await readSafetensorsHeader(optFiles, OPTIMIZER_FILE);
      const optimizer: PretrainSnapshot['optimizer'] = {};
      for (const [n, info] of header.tensors)
        optimizer[n] = { shape: info.shape, data: tensorToFloat32(await readTensor(optFiles, header, n), n) };
      const files = {
        'adapter_config.json': await readText(dir, 'adapter_config.json'),
        'adapter_model.safetensors': await readBytes(dir, 'adapter_model.safetensors'),
      };
      const lines = parseMetricsLog(await readText(dir, METRICS_FILE));
      return { step: state.step, snapshot: { state, optimizer, files }, lines };
    } catch (e) {
      throw new Error(
        `${where} cannot be read (${e instanceof Error ? e.message : String(e)}); start a new run.`,
      );
    }
  }

  /** Runs a write, turning a full disk into one sentence that names the checkpoint still intact. */
  private async guard(previous: number | null, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (e) {
      if (!isQuotaError(e)) throw e;
      throw new StorageFullError(
        previous === null
          ? "The browser's storage for this page is full, so training cannot save checkpoints: free some space and start again."
          : `The browser's storage for this page is full, so the new checkpoint was not saved; the last one (step ${previous}) is intact.`,
      );
    }
  }
}
