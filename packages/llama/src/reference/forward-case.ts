/**
 * One case of a forward fixture as the torch scripts write it (test/make_fixtures.py for forward.json,
 * test/transformers_parity.py for the device parity files): a batch, and the final post-norm hidden
 * states at the rows that see at least one key.
 *
 * ```ts
 * const c = JSON.parse(text) as ForwardCase;
 * model.upload({ ids: Int32Array.from(c.ids), positions: Int32Array.from(c.positions), mask: maskFromJson(c.mask) });
 * ```
 */
import type { MaskDescription } from '@llara/kernels';

/** `MaskDescription` with plain arrays (JSON). */
export interface MaskJson {
  batch: number;
  seqLen: number;
  causal: boolean;
  validStart: number[];
  validEnd: number[];
  block?: number[];
}

export interface ForwardCase {
  name: string;
  ids: number[];
  positions: number[];
  mask: MaskJson;
  /** Flat token slots compared. */
  rows: number[];
  /** Final post-norm hidden states at `rows`, row-major [rows.length, hidden] (float32 reference). */
  hidden: number[];
  /** The same in float64, where the script computed it. */
  hidden_f64?: number[];
  /** Logits of each sequence's last valid token, where the script computed them. */
  logits_last?: number[];
  /** PEFT adapter folder relative to the repository root, or null. */
  adapter?: string | null;
}

export function maskFromJson(m: MaskJson): MaskDescription {
  return {
    batch: m.batch,
    seqLen: m.seqLen,
    causal: m.causal,
    validStart: Int32Array.from(m.validStart),
    validEnd: Int32Array.from(m.validEnd),
    ...(m.block ? { block: Int32Array.from(m.block) } : {}),
  };
}
