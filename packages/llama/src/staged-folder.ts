/**
 * How a model folder comes into being without ever existing half-written under its real name: it is
 * written into a hidden sibling folder (same file system, so the final rename is one step), checked
 * there, and only then renamed into place; on any failure the sibling is removed. Both `llara export`
 * writers (full precision and quantized) go through here, with the sharding names HF uses.
 *
 * @example
 * await assertEmptyOrAbsent(dir);
 * await writeStagedFolder(dir, async (tmp) => {
 *   await writeFile(join(tmp, 'config.json'), text);
 * });
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from './node.ts';
import { SAFETENSORS_FILE, SAFETENSORS_INDEX_FILE } from './sharded.ts';

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Throws one sentence when `dir` exists and is anything but an empty folder. */
export async function assertEmptyOrAbsent(dir: string): Promise<void> {
  const st = await fs.stat(dir).catch(() => null);
  if (!st || (st.isDirectory() && (await fs.readdir(dir)).length === 0)) return;
  throw new Error(`${dir} already exists and is not an empty folder; choose a new output folder.`);
}

/**
 * Runs `fill` on a fresh hidden folder beside `dir`, then replaces `dir` (absent or empty: see
 * `assertEmptyOrAbsent`) with it; `fill`'s result is returned. Nothing is left behind on failure.
 */
export async function writeStagedFolder<T>(dir: string, fill: (tmp: string) => Promise<T>): Promise<T> {
  const parent = path.dirname(path.resolve(dir));
  await fs.mkdir(parent, { recursive: true });
  const tmp = path.join(
    parent,
    `.${path.basename(dir)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  await fs.mkdir(tmp);
  try {
    const result = await fill(tmp);
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(tmp, dir);
    return result;
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** HF's weight file name for shard `i` of `n` (`model.safetensors` when there is one). */
export function shardFileName(i: number, n: number): string {
  return n === 1
    ? SAFETENSORS_FILE
    : `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
}

/** Writes `model.safetensors.index.json` into `folder` (names sorted, as transformers writes them). */
export async function writeShardIndex(
  folder: string,
  totalBytes: number,
  weightMap: Record<string, string>,
): Promise<void> {
  const sorted = Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : 1)));
  await writeFileAtomic(
    path.join(folder, SAFETENSORS_INDEX_FILE),
    `${JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: sorted }, null, 2)}\n`,
  );
}
