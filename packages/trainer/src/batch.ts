/**
 * Pads several layouts into one batch: flat row-major arrays [batch * seqLen], the attention mask as a
 * description (padding range, causal, LLaRA block rule per row), read-out slots and loss targets.
 *
 * Left padding (flag, as released) puts every row's read-out tokens in its last slots. Position ids
 * start at 0 at each row's first real token; the released code uses arange(T) for every row instead,
 * which shifts a left-padded row's positions by its pad count: RoPE depends only on position
 * differences, so attention is the same either way. Pad slots get position 0 and the pad id.
 *
 * @example
 * const b = batchForRecipe(recipe, layouts);
 * b.ids;          // Int32Array [B * T]
 * b.mask;         // MaskDescription for the attention kernels
 * b.readout.ebae; // Int32Array [B * 8] flat slots b * T + s
 */
import type { MaskDescription } from '@llara/kernels';
import { IGNORE_INDEX, type Layout, type Readout } from './layout.ts';
import type { Recipe, Task } from './recipes.ts';

export interface BatchOptions {
  paddingSide: 'left' | 'right';
  /** Default 0 (unk: LLaMA has no pad token). */
  padId?: number;
  /** Round seqLen up to a multiple of this (the released collators use 8). */
  padToMultipleOf?: number;
  /** Force this seqLen (at least the longest row, before rounding). */
  seqLen?: number;
}

export interface Batch {
  batch: number;
  seqLen: number;
  /** [batch * seqLen] token ids. */
  ids: Int32Array;
  /** [batch * seqLen] position ids. */
  positions: Int32Array;
  mask: MaskDescription;
  /** [batch] first slot of each row's tokens (> 0 with left padding). */
  offsets: Int32Array;
  /** [batch] real tokens per row. */
  lengths: Int32Array;
  /** Per read-out: [batch * k] flat slots `b * seqLen + s`, row after row. */
  readout: Partial<Record<Readout, Int32Array>>;
  /** Per read-out: k, the slots per row. */
  readoutPerRow: Partial<Record<Readout, number>>;
  /** [batch * seqLen] next-token targets (IGNORE_INDEX = no loss), or null when the layouts have none. */
  arTargets: Int32Array | null;
  /** How many AR targets are labelled (the AR loss is their mean). */
  arCount: number;
  /** Per task: each row's bag-of-words target ids. */
  bowTargets: Partial<Record<Task, number[][]>>;
  /** Whether any row lost text to the max length. */
  truncated: boolean;
}

/** Pads `layouts` into one batch (see the file comment). */
export function batchLayouts(layouts: Layout[], opts: BatchOptions): Batch {
  const B = layouts.length;
  if (B === 0) throw new Error('Cannot batch zero sequences.');
  const padId = opts.padId ?? 0;
  const multiple = opts.padToMultipleOf ?? 1;
  const longest = Math.max(...layouts.map((l) => l.ids.length));
  if (opts.seqLen !== undefined && opts.seqLen < longest) {
    throw new Error(`Sequence length ${opts.seqLen} is shorter than the longest row (${longest} tokens).`);
  }
  const T = Math.ceil((opts.seqLen ?? longest) / multiple) * multiple;

  const ids = new Int32Array(B * T).fill(padId);
  const positions = new Int32Array(B * T);
  const offsets = new Int32Array(B);
  const lengths = new Int32Array(B);
  const validStart = new Int32Array(B);
  const validEnd = new Int32Array(B);
  const anyBlock = layouts.some((l) => l.block !== null);
  const block = anyBlock ? new Int32Array(B * 4) : undefined;
  const anyAr = layouts.some((l) => l.arTargets !== null);
  const arTargets = anyAr ? new Int32Array(B * T).fill(IGNORE_INDEX) : null;
  let arCount = 0;

  const readoutKeys = Object.keys(layouts[0].readout) as Readout[];
  const readoutPerRow: Partial<Record<Readout, number>> = {};
  const readout: Partial<Record<Readout, Int32Array>> = {};
  for (const key of readoutKeys) {
    const k = layouts[0].readout[key]?.length ?? 0;
    readoutPerRow[key] = k;
    readout[key] = new Int32Array(B * k);
  }
  const bowKeys = Object.keys(layouts[0].bowTargets) as Task[];
  const bowTargets: Partial<Record<Task, number[][]>> = {};
  for (const key of bowKeys) bowTargets[key] = [];

  layouts.forEach((l, b) => {
    const n = l.ids.length;
    const off = opts.paddingSide === 'left' ? T - n : 0;
    offsets[b] = off;
    lengths[b] = n;
    validStart[b] = off;
    validEnd[b] = off + n;
    for (let s = 0; s < n; s++) {
      ids[b * T + off + s] = l.ids[s];
      positions[b * T + off + s] = l.positionIds[s];
    }
    if (block && l.block) for (let k = 0; k < 4; k++) block[b * 4 + k] = l.block[k] + off;
    if (arTargets && l.arTargets) {
      for (let s = 0; s < n; s++) {
        const t = l.arTargets[s];
        arTargets[b * T + off + s] = t;
        if (t !== IGNORE_INDEX) arCount++;
      }
    }
    for (const key of readoutKeys) {
      const slots = l.readout[key];
      const k = readoutPerRow[key] ?? 0;
      if (!slots || slots.length !== k) {
        throw new Error(`Row ${b} has ${slots?.length ?? 0} "${key}" read-out slots but row 0 has ${k}.`);
      }
      const dst = readout[key] as Int32Array;
      for (let i = 0; i < k; i++) dst[b * k + i] = b * T + off + slots[i];
    }
    for (const key of bowKeys) {
      const targets = l.bowTargets[key];
      if (!targets) throw new Error(`Row ${b} has no "${key}" targets but row 0 has.`);
      bowTargets[key]?.push(targets);
    }
  });

  const mask: MaskDescription = { batch: B, seqLen: T, causal: true, validStart, validEnd };
  if (block) mask.block = block;
  return {
    batch: B,
    seqLen: T,
    ids,
    positions,
    mask,
    offsets,
    lengths,
    readout,
    readoutPerRow,
    arTargets,
    arCount,
    bowTargets,
    truncated: layouts.some((l) => l.truncated),
  };
}

/** `batchLayouts` with the recipe's padding side, pad id and multiple. */
export function batchForRecipe(recipe: Recipe, layouts: Layout[], seqLen?: number): Batch {
  return batchLayouts(layouts, {
    paddingSide: recipe.paddingSide,
    padId: recipe.padId,
    padToMultipleOf: recipe.padToMultipleOf,
    seqLen,
  });
}

/**
 * An order that sorts items by length, longest first (ties keep input order), so embedding batches
 * carry little padding; `inverse[i]` is where item i went, to put results back in input order.
 *
 * @example
 * const { order, inverse } = sortByLength(layouts.map((l) => l.ids.length));
 * // embed order[0..], then result for input i = sorted[inverse[i]]
 */
export function sortByLength(lengths: ArrayLike<number>): { order: number[]; inverse: number[] } {
  const order = Array.from({ length: lengths.length }, (_, i) => i);
  order.sort((a, b) => lengths[b] - lengths[a] || a - b);
  const inverse = new Array<number>(order.length);
  order.forEach((item, pos) => {
    inverse[item] = pos;
  });
  return { order, inverse };
}

/** Splits `items` into consecutive chunks of at most `size` (the last may be shorter). */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  if (!(size >= 1)) throw new Error(`Batch size must be at least 1, got ${size}.`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The flat arrays a GPU pretext step needs, derived from a pretraining batch (see `pretextArrays`). */
export interface PretextArrays {
  /** Flat slots (b * seqLen + s) whose hidden states feed the bag-of-words loss; group g uses [g*P, (g+1)*P). */
  bowRows: Int32Array;
  bowGroups: number;
  /** P: read-out slots per group (8 for flag, 1 for paper). */
  bowPositions: number;
  /** CSR: group g's targets are bowTargetIds[offsets[g] .. offsets[g+1]). */
  bowTargetOffsets: Int32Array;
  bowTargetIds: Int32Array;
  /**
   * Each group's weight in the total when its loss is -mean(logp[targets]):
   * scale * combine / (rows of that task with targets); 0 for a row without targets.
   */
  bowWeights: Float32Array;
  /** The task of each group: all EBAE groups (row order), then all EBAR groups. */
  bowTask: Task[];
  /** The factor each task's loss enters the total with (flag 0.5: their mean; paper 1: their sum). */
  bowCombine: number;
  /** AR: flat slots that predict a token, the token, and 1 / their count (empty when AR is off). */
  arRows: Int32Array;
  arLabels: Int32Array;
  arWeight: number;
  /** Tokens that are not padding. */
  realTokens: number;
}

/**
 * Flattens a pretraining batch for the GPU step: groups (task, row) with their read-out slots, CSR
 * bag-of-words targets and weights such that sum_g weight_g * (-mean_{t in T_g} logp_g[t]) is the
 * recipe's bag-of-words total (see `combinePretrainLosses`), and the labelled AR slots.
 */
export function pretextArrays(recipe: Recipe, batch: Batch): PretextArrays {
  const spec = recipe.loss?.bow;
  if (!spec) throw new Error(`Recipe "${recipe.name}" has no pretraining loss.`);
  const tasks: Task[] = ['ebae', 'ebar'];
  const P = batch.readoutPerRow.ebae ?? 0;
  if (P === 0 || batch.readoutPerRow.ebar !== P)
    throw new Error('A pretext batch needs EBAE and EBAR read-out slots of equal count.');
  const combine = spec.combine === 'mean' ? 0.5 : 1;
  const B = batch.batch;
  const bowRows = new Int32Array(2 * B * P);
  const offsets = new Int32Array(2 * B + 1);
  const ids: number[] = [];
  const weights = new Float32Array(2 * B);
  const bowTask: Task[] = [];
  tasks.forEach((task, ti) => {
    const slots = batch.readout[task] as Int32Array;
    const targets = batch.bowTargets[task] ?? [];
    const active = targets.filter((t) => t.length > 0).length;
    for (let b = 0; b < B; b++) {
      const g = ti * B + b;
      bowRows.set(slots.subarray(b * P, (b + 1) * P), g * P);
      ids.push(...targets[b]);
      offsets[g + 1] = ids.length;
      weights[g] = targets[b].length > 0 ? (spec.scale * combine) / active : 0;
      bowTask.push(task);
    }
  });
  const arRows: number[] = [];
  const arLabels: number[] = [];
  if (batch.arTargets) {
    batch.arTargets.forEach((t, slot) => {
      if (t !== IGNORE_INDEX) {
        arRows.push(slot);
        arLabels.push(t);
      }
    });
  }
  return {
    bowRows,
    bowGroups: 2 * B,
    bowPositions: P,
    bowTargetOffsets: offsets,
    bowTargetIds: Int32Array.from(ids),
    bowWeights: weights,
    bowTask,
    bowCombine: combine,
    arRows: Int32Array.from(arRows),
    arLabels: Int32Array.from(arLabels),
    arWeight: arRows.length > 0 ? 1 / arRows.length : 0,
    realTokens: batch.lengths.reduce((a, n) => a + n, 0),
  };
}
