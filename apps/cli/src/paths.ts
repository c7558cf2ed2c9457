import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The repository's bundled data (stories260K, Cranfield), found from wherever this code runs: the
 * bundle in apps/cli/dist or the sources in apps/cli/src (tests), or `../data` beside dist/ in the
 * installed npm package (copied there by scripts/prepack.mjs). LLARA_DATA overrides it.
 */
export function dataDir(): string {
  if (process.env.LLARA_DATA) return process.env.LLARA_DATA;
  for (const rel of ['../../../data', '../../data', '../data']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${p}/models/stories260K/config.json`)) return p;
  }
  throw new Error(
    'The bundled data folder (data/models/stories260K) was not found; set LLARA_DATA to its path.',
  );
}

export const defaultModelDir = (): string => `${dataDir()}/models/stories260K`;
export const defaultBeirDir = (): string => `${dataDir()}/cranfield`;
