/**
 * Where the page gets a model from: the bundled stories260K (served over HTTP next to the app, with the
 * demo adapter when `pnpm demo` has trained one), or a folder the user picks (an `<input webkitdirectory>`
 * file list or a File System Access directory handle). Either way the result is `ModelFiles`, the same
 * interface the CLI reads folders through.
 */
import {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  type ModelFiles,
  memoryFiles,
  urlFiles,
} from '@llara/llama';
import { listedFiles, type ServedFiles } from './served-files.ts';

export interface ModelSource {
  /** For status lines: a URL or the picked folder's name. */
  label: string;
  files: ModelFiles;
  /** A PEFT adapter found with the model, or null. */
  adapter: ModelFiles | null;
}

/** Paths under the app's base URL (the repo's data/ folder is the app's public folder). */
export const DEFAULT_MODEL_PATH = 'models/stories260K/';
export const DEMO_ADAPTER_PATH = 'demo-adapter/';
export const CRANFIELD_CORPUS_PATH = 'cranfield/corpus.jsonl';
/** The status-line label of the bundled model, whose scores get a caveat. */
export const BUNDLED_LABEL = 'bundled stories260K';

export function defaultModelFiles(base: string, served: ServedFiles | null): ModelFiles {
  return listedFiles(
    urlFiles(new URL(DEFAULT_MODEL_PATH, base).toString()),
    served?.[DEFAULT_MODEL_PATH] ?? null,
  );
}

/**
 * The demo adapter when the server has one. Not in the server's file list (no demo trained yet), a network
 * error, or a page in its place (a static host's fallback) all mean "none".
 */
export async function findDemoAdapter(base: string, served: ServedFiles | null): Promise<ModelFiles | null> {
  const files = demoAdapterFiles(base, served);
  try {
    if (!(await files.has(ADAPTER_CONFIG_FILE)) || !(await files.has(ADAPTER_WEIGHTS_FILE))) return null;
    JSON.parse(new TextDecoder().decode(await files.read(ADAPTER_CONFIG_FILE)));
    return files;
  } catch {
    return null;
  }
}

/** The demo adapter's files on the server (whether or not it has them). */
export function demoAdapterFiles(base: string, served: ServedFiles | null): ModelFiles {
  const names = served ? (served[DEMO_ADAPTER_PATH] ?? []) : null;
  return listedFiles(urlFiles(new URL(DEMO_ADAPTER_PATH, base).toString()), names);
}

/** A picked file with its path inside the picked folder ("model.safetensors", "adapter/adapter_config.json"). */
export interface PickedFile {
  path: string;
  file: File;
}

/**
 * Groups a picked folder into the model (the shallowest folder holding config.json) and an adapter (the
 * model's own folder when it holds adapter_config.json, else the shallowest folder that does).
 */
export function sourceFromPicked(folderName: string, picked: readonly PickedFile[]): ModelSource {
  const dirs = new Map<string, Record<string, File>>();
  for (const { path, file } of picked) {
    const cut = path.lastIndexOf('/');
    const dir = cut < 0 ? '' : path.slice(0, cut);
    const name = path.slice(cut + 1);
    const entries = dirs.get(dir) ?? {};
    entries[name] = file;
    dirs.set(dir, entries);
  }
  const byDepth = [...dirs.keys()].sort((a, b) => depth(a) - depth(b) || a.localeCompare(b));
  const modelDir = byDepth.find((d) => 'config.json' in dirs.get(d)!);
  if (modelDir === undefined)
    throw new Error(`The folder ${folderName} has no config.json, so it is not a Hugging Face model folder.`);
  const adapterDir =
    ADAPTER_CONFIG_FILE in dirs.get(modelDir)!
      ? modelDir
      : byDepth.find((d) => ADAPTER_CONFIG_FILE in dirs.get(d)!);
  const where = (d: string) => (d === '' ? folderName : `${folderName}/${d}`);
  return {
    label: where(modelDir),
    files: memoryFiles(dirs.get(modelDir)!, where(modelDir)),
    adapter: adapterDir === undefined ? null : memoryFiles(dirs.get(adapterDir)!, where(adapterDir)),
  };
}

function depth(dir: string): number {
  return dir === '' ? 0 : dir.split('/').length;
}

/** The files of an `<input type=file webkitdirectory>`; paths drop the picked folder's own name. */
export function pickedFromFileList(list: FileList): { folderName: string; picked: PickedFile[] } {
  const picked: PickedFile[] = [];
  let folderName = '';
  for (const file of Array.from(list)) {
    const rel = file.webkitRelativePath || file.name;
    const cut = rel.indexOf('/');
    if (cut >= 0) folderName ||= rel.slice(0, cut);
    picked.push({ path: cut >= 0 ? rel.slice(cut + 1) : rel, file });
  }
  if (picked.length === 0) throw new Error('The picked folder is empty.');
  return { folderName: folderName || 'the picked folder', picked };
}

// The File System Access API is Chromium-only, so TypeScript's DOM library leaves it out.
interface FileHandleLike {
  kind: 'file';
  name: string;
  getFile(): Promise<File>;
}
interface DirectoryHandleLike {
  kind: 'directory';
  name: string;
  values(): AsyncIterable<FileHandleLike | DirectoryHandleLike>;
}
type PickerWindow = { showDirectoryPicker?: (o?: { mode?: 'read' }) => Promise<DirectoryHandleLike> };

export function hasDirectoryPicker(): boolean {
  return typeof (globalThis as PickerWindow).showDirectoryPicker === 'function';
}

/** Asks for a folder with `showDirectoryPicker`; null when the user cancels. Reads one level of subfolders. */
export async function pickDirectory(): Promise<{ folderName: string; picked: PickedFile[] } | null> {
  let root: DirectoryHandleLike;
  try {
    root = await (globalThis as PickerWindow).showDirectoryPicker!({ mode: 'read' });
  } catch (e) {
    if ((e as Error).name === 'AbortError') return null;
    throw e;
  }
  const picked: PickedFile[] = [];
  const walk = async (dir: DirectoryHandleLike, prefix: string, level: number): Promise<void> => {
    for await (const entry of dir.values()) {
      if (entry.name.startsWith('.')) continue;
      if (entry.kind === 'file') picked.push({ path: prefix + entry.name, file: await entry.getFile() });
      else if (level < 1) await walk(entry, `${prefix}${entry.name}/`, level + 1);
    }
  };
  await walk(root, '', 0);
  return { folderName: root.name, picked };
}
