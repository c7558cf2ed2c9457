/**
 * The base-weight format a model is run with: `q8`, `q4` or `nf4` when its matrices are block-quantized
 * (by `--quantize`, or a folder `llara export --quantize` wrote), else the dtype it is stored in and
 * loaded as (`f32`, `f16`, `bf16`). `llara embed` records it in run.json, `llara index build` in the
 * index's embedder.json, and `llara search` / `llara serve` refuse an index embedded with another
 * quantization: a q4 corpus searched with f32 queries (or the reverse) gives quietly worse scores.
 *
 * ```ts
 * const opened = await openModelOrFail(dir);
 * const base = baseFormat(opened, f.quantize); // 'q4' with --quantize q4, else e.g. 'f16'
 * checkIndexBase({ index: dir, recorded: info.base, now: base, flag: f.quantize, user: 'this search', log });
 * ```
 */
import { isQuantFormat, type QuantFormat } from '@llara/gpu';
import type { OpenedModel } from '@llara/llama';
import { UserError } from './errors.ts';

/** `q8` | `q4` | `nf4` (block-quantized) or `f32` | `f16` | `bf16` (as stored). */
export type BaseFormat = QuantFormat | 'f32' | 'f16' | 'bf16';

export function isBaseFormat(s: unknown): s is BaseFormat {
  return isQuantFormat(s) || s === 'f32' || s === 'f16' || s === 'bf16';
}

/** What `loadModel` will hold the base in, known before any weight is read. */
export function baseFormat(opened: OpenedModel, quantize: QuantFormat | undefined): BaseFormat {
  const q = quantize ?? opened.config.quantization;
  if (q) return q;
  const dtype = opened.checkpoint.infos.get('model.embed_tokens.weight')?.dtype;
  return dtype === 'F16' ? 'f16' : dtype === 'BF16' ? 'bf16' : 'f32';
}

/** How a base format reads in a sentence: "a q4-quantized base" or "full-precision (f16) weights". */
function describe(b: BaseFormat): string {
  return isQuantFormat(b)
    ? `${b === 'nf4' ? 'an' : 'a'} ${b}-quantized base`
    : `full-precision (${b}) weights`;
}

export interface IndexBaseCheck {
  /** The index directory (named in the messages). */
  index: string;
  /** embedder.json's `base`; undefined for an index built before it was recorded. */
  recorded: unknown;
  /** The format this run loads the model in (`baseFormat`). */
  now: BaseFormat;
  /** `--quantize` as given, so the advice can say to drop it. */
  flag: QuantFormat | undefined;
  /** Who is asking, in the sentence: "this search", "this server". */
  user: string;
  log: (line: string) => void;
}

/**
 * Throws a UserError (one sentence naming both settings and what to pass) when the index was embedded
 * with another quantization than `now`. f32, f16 and bf16 count as one setting (full precision), so
 * an f16 checkpoint's index searched with its f32 copy passes. An index without the field gets a note.
 */
export function checkIndexBase(c: IndexBaseCheck): void {
  if (c.recorded === undefined) {
    c.log(
      `note: ${c.index} was built before indexes recorded their base-weight format, so its quantization is not checked against ${c.user}'s (${c.now}).`,
    );
    return;
  }
  if (!isBaseFormat(c.recorded)) {
    c.log(
      `note: ${c.index}'s embedder.json names an unknown base format "${String(c.recorded)}"; not checked.`,
    );
    return;
  }
  const was = c.recorded;
  const wasQ = isQuantFormat(was) ? was : null;
  const nowQ = isQuantFormat(c.now) ? c.now : null;
  if (wasQ === nowQ) return;
  let advice: string;
  if (wasQ && c.flag) advice = `pass --quantize ${wasQ} instead of --quantize ${c.flag}`;
  else if (wasQ && !nowQ) advice = `pass --quantize ${wasQ}`;
  else if (wasQ)
    advice = `use the model folder the index was built with, or a full-precision one with --quantize ${wasQ}`;
  else if (c.flag) advice = `drop --quantize ${c.flag}`;
  else advice = 'use the full-precision model folder the index was built with';
  throw new UserError(
    `The index ${c.index} was embedded with ${describe(was)} but ${c.user} would use ${describe(c.now)}; ${advice} (or rebuild the index with this setting).`,
  );
}
