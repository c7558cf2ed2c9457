/** Node file helpers for `.npy` arrays. */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from './atomic-write.ts';
import { decodeNpy, encodeNpy, type NpyArray } from './npy.ts';

/**
 * Reads a `.npy` file.
 * @example const { shape, data } = await readNpy('embeddings.npy');
 */
export async function readNpy(path: string): Promise<NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`NumPy file ${path} cannot be read (${code === 'ENOENT' ? 'it does not exist' : code}).`);
  }
  return decodeNpy(bytes, path);
}

/**
 * Writes a `.npy` file atomically (temp file + rename).
 * @example await writeNpy('scores.npy', { dtype: 'f4', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) });
 */
export async function writeNpy(path: string, array: NpyArray): Promise<void> {
  await writeFileAtomic(path, encodeNpy(array));
}
