/**
 * What `llara search` and `llara serve --index` check in an index's embedder.json before the model
 * loads: another base quantization is refused (base-format.ts); another recipe, model or adapter than
 * the index was embedded with gives a note, since the scores then mean little. An index without
 * embedder.json (built from .npy files), or with one that is not JSON, is not checked.
 *
 * ```ts
 * await checkIndexEmbedder({ index: dir, recipe: 'flag', modelDir, base: baseFormat(opened, q), quantize: q, user: 'this search', log });
 * ```
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { QuantFormat } from '@llara/gpu';
import { type BaseFormat, checkIndexBase } from './base-format.ts';
import { EMBEDDER_FILE, type EmbedderInfo } from './commands/index-build.ts';

export interface IndexEmbedderCheck {
  index: string;
  recipe: string;
  modelDir: string;
  adapter?: string;
  /** The format this run loads the model in (`baseFormat`). */
  base: BaseFormat;
  /** `--quantize` as given. */
  quantize: QuantFormat | undefined;
  /** Who is asking, in the sentences: "this search", "this server". */
  user: string;
  log: (line: string) => void;
}

export async function checkIndexEmbedder(c: IndexEmbedderCheck): Promise<void> {
  const info = await readFile(join(c.index, EMBEDDER_FILE), 'utf8')
    .then((t) => JSON.parse(t) as EmbedderInfo)
    .catch(() => null);
  if (!info) return;
  checkIndexBase({
    index: c.index,
    recorded: info.base,
    now: c.base,
    flag: c.quantize,
    user: c.user,
    log: c.log,
  });
  const now = {
    recipe: c.recipe,
    model: resolve(c.modelDir),
    adapter: c.adapter ? resolve(c.adapter) : null,
  };
  for (const key of ['recipe', 'model', 'adapter'] as const)
    if (info[key] !== now[key])
      c.log(
        `note: ${c.index} was embedded with ${key} ${info[key] ?? '(none)'}, and ${c.user} uses ${now[key] ?? '(none)'}`,
      );
}
