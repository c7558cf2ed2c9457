/**
 * Masks and shapes the attention tests share: causal and bidirectional, left and right padding, the
 * LLaRA `flag` layout (text, then the 19-slot EBAE suffix = block A, then the 18-slot EBAR suffix =
 * block B, whose rows must not see block A), and edges (one token, rows that see nothing).
 */
import type { MaskDescription } from './mask.ts';

export interface AttentionCase {
  name: string;
  mask: MaskDescription;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Fold workgroup grids at this size, to exercise the folded indexing. */
  maxWorkgroupsPerDim?: number;
  /** `Gpu.maxDispatchFlops` for this case: small values split each kernel into several dispatches. */
  maxDispatchFlops?: number;
}

/** A mask description from per-sequence valid ranges and optional LLaRA blocks (a0, a1, b0, b1). */
export function mask(
  seqLen: number,
  causal: boolean,
  valid: [number, number][],
  block?: [number, number, number, number][],
): MaskDescription {
  return {
    batch: valid.length,
    seqLen,
    causal,
    validStart: Int32Array.from(valid, (v) => v[0]),
    validEnd: Int32Array.from(valid, (v) => v[1]),
    block: block ? Int32Array.from(block.flat()) : undefined,
  };
}

/** LLaRA pretraining layout of one sequence: [1, 376] + text + EBAE suffix (19) + EBAR suffix (18), starting at `start`. */
export function llaraBlocks(start: number, textLen: number): [number, number, number, number] {
  const a0 = start + 2 + textLen;
  return [a0, a0 + 19, a0 + 19, a0 + 37];
}

export const ATTENTION_CASES: AttentionCase[] = [
  { name: 'one token', mask: mask(1, true, [[0, 1]]), numHeads: 2, numKvHeads: 2, headDim: 8 },
  {
    // Sequence 0 left-padded (3 slots), sequence 1 right-padded, and its rows 0-1 see nothing:
    // they are in block B and everything they could see causally is in block A.
    name: 'GQA 8/4, left and right padding, rows that see no key',
    mask: mask(
      7,
      true,
      [
        [3, 7],
        [0, 5],
      ],
      [
        [0, 0, 0, 0],
        [0, 2, 0, 2],
      ],
    ),
    numHeads: 8,
    numKvHeads: 4,
    headDim: 8,
    // 16 forward and 8 dK/dV workgroups folded into 3 x 6 and 3 x 3: some unfold past the end.
    maxWorkgroupsPerDim: 3,
    // And split into dispatches of one workgroup each (the fold then pads every dispatch).
    maxDispatchFlops: 1,
  },
  {
    name: 'MQA 4/1, bidirectional, padding',
    mask: mask(37, false, [
      [0, 37],
      [4, 30],
    ]),
    numHeads: 4,
    numKvHeads: 1,
    headDim: 64,
  },
  {
    // Head dim 10: a partial last vec4 chunk, and with two subgroup lanes a padding chunk.
    name: 'LLaRA flag layout (text, EBAE block A, EBAR block B), left padding, head dim 10, folded grid',
    mask: mask(
      130,
      true,
      [
        [0, 130],
        [30, 130],
      ],
      [llaraBlocks(0, 91), llaraBlocks(30, 61)],
    ),
    numHeads: 2,
    numKvHeads: 2,
    headDim: 10,
    maxWorkgroupsPerDim: 3,
    // Several workgroups per dispatch, the last dispatch partly empty.
    maxDispatchFlops: 4 * 16 * 130 * 10 * 5,
  },
  {
    // Blocks that cover whole key and query tiles, so the kernels skip tiles for the block rule.
    name: 'block rule over whole tiles (tile skipping)',
    mask: mask(130, true, [[0, 130]], [[0, 64, 64, 130]]),
    numHeads: 2,
    numKvHeads: 1,
    headDim: 64,
  },
];
