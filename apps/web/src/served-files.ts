/**
 * What the server holds under the app, from the `served-files.json` manifest that vite.config.ts writes
 * into the build and answers from the dev and preview servers. The page asks it instead of probing optional
 * files (`model.safetensors.index.json`, the demo adapter), because every probe for a missing file is a
 * red 404 in the browser console.
 *
 * @example
 * const served = await fetchServedFiles(document.baseURI);
 * const files = listedFiles(urlFiles(url), served?.['models/stories260K/'] ?? null);
 */
import type { ModelFiles } from '@llara/llama';

export const SERVED_FILES_PATH = 'served-files.json';

/** Folder path under the app (ending in '/') -> the plain file names in it. */
export type ServedFiles = Record<string, string[]>;

/** The manifest, or null when the server has none (then the page falls back to probing). */
export async function fetchServedFiles(base: string): Promise<ServedFiles | null> {
  try {
    const res = await fetch(new URL(SERVED_FILES_PATH, base), { cache: 'no-store' });
    if (!res.ok) return null;
    const value: unknown = await res.json();
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
    const out: ServedFiles = {};
    for (const [dir, names] of Object.entries(value))
      if (Array.isArray(names)) out[dir] = names.filter((n): n is string => typeof n === 'string');
    return out;
  } catch {
    return null;
  }
}

/**
 * `files` whose `has` answers from `names` without a request (null names: no list, ask the server), and
 * whose location, for messages, is the path on this page's server (`/demo-adapter`, not a full URL).
 */
export function listedFiles(files: ModelFiles, names: readonly string[] | null): ModelFiles {
  const listed = names === null ? null : new Set(names);
  return {
    location: samePagePath(files.location),
    has: async (name) => (listed === null || listed.has(name)) && (await files.has(name)),
    size: (name) => files.size(name),
    read: (name, start, end) => files.read(name, start, end),
  };
}

function samePagePath(location: string): string {
  try {
    const url = new URL(location);
    return url.origin === globalThis.location?.origin ? url.pathname : location;
  } catch {
    return location;
  }
}
