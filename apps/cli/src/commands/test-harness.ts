/**
 * Test support for command tests: runs `main([...])` in-process and captures exit code, stdout and
 * stderr; temp folders; the bundled model and golden paths. Imported by `*.test.ts` only.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { paddedCausalMask } from '@llara/kernels';
import { vi } from 'vitest';
import { main } from '../main.ts';
import type { LoadedModel } from '../model-loader.ts';

export const DATA = new URL('../../../../data/', import.meta.url).pathname;
export const STORIES = `${DATA}models/stories260K`;
export const GOLDEN_ADAPTER = `${DATA}goldens/llara-flag-stories260K/adapter`;

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

export async function runCli(args: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
    out += `${a.join(' ')}\n`;
  });
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => {
    err += `${a.join(' ')}\n`;
  });
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
  try {
    return { code: await main(args), out, err };
  } finally {
    log.mockRestore();
    error.mockRestore();
    write.mockRestore();
  }
}

export const tempDir = (): string => mkdtempSync(join(tmpdir(), 'llara-cmd-'));

/** A small corpus: titles on some rows, ids on most, one row identified by its line number. */
export const DOCS = [
  { _id: 'd1', title: 'Wings', text: 'The wing makes lift when air moves over it.' },
  { _id: 'd2', text: 'Once upon a time there was a little girl named Lily.' },
  { text: 'A big dog ran to the park and played with a ball.' },
  { id: 7, title: 'Heat', text: 'Heat moves through the slab from the hot side to the cold side.' },
  { _id: 'd5', text: 'The boat sailed on the sea and the sun was bright.' },
];
/** The ids `llara embed` gives DOCS (the third row has none: its line number, 3). */
export const DOC_IDS = ['d1', 'd2', '3', '7', 'd5'];

export function writeJsonl(file: string, rows: readonly unknown[]): string {
  writeFileSync(file, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
  return file;
}

/** Final hidden states [T, hidden] of one causal sequence of `ids` on a loaded model. */
export async function hiddenStates(loaded: LoadedModel, ids: number[]): Promise<Float32Array> {
  const T = ids.length;
  const dev = loaded.model.upload({
    ids: Int32Array.from(ids),
    positions: Int32Array.from(ids, (_, t) => t),
    mask: paddedCausalMask(T, [T], 'right'),
  });
  const h = loaded.model.forward(dev);
  const out = (await loaded.gpu.read(h)) as Float32Array;
  h.release();
  dev.release();
  return out;
}
