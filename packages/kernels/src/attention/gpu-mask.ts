/**
 * The attention mask as the kernels read it: one i32 [batch * 6] table, per sequence
 * (validStart, validEnd, aStart, aEnd, bStart, bEnd), plus the description itself (whose `causal`
 * flag travels in each kernel's uniform Params). A sequence without the LLaRA block rule gets the
 * empty ranges aStart = aEnd = bStart = bEnd = 0.
 *
 * ```ts
 * const mask = uploadMask(gpu, paddedCausalMask(128, [128, 90], 'left'));
 * attentionForward(rec, q, k, v, out, lse, mask, { numHeads: 8, numKvHeads: 8, headDim: 64 });
 * rec.submit();
 * mask.table.release();
 * ```
 */
import type { Gpu, Tensor } from '@llara/gpu';
import type { MaskDescription } from './mask.ts';

/** The mask on the GPU: one i32 [batch*6] tensor (validStart, validEnd, aStart, aEnd, bStart, bEnd per sequence) + flags. */
export interface GpuMask {
  desc: MaskDescription;
  table: Tensor;
}

/** Fields per sequence in the table. */
export const MASK_FIELDS = 6;

/** The table `uploadMask` writes, checked: every range must lie inside [0, seqLen]. */
export function maskTable(m: MaskDescription): Int32Array {
  const { batch, seqLen } = m;
  if (!Number.isInteger(batch) || batch < 1 || !Number.isInteger(seqLen) || seqLen < 1) {
    throw new Error(`Mask has batch ${batch} and seqLen ${seqLen}; both must be positive integers.`);
  }
  if (m.validStart.length !== batch || m.validEnd.length !== batch) {
    throw new Error(
      `Mask validStart/validEnd have ${m.validStart.length}/${m.validEnd.length} entries for a batch of ${batch}.`,
    );
  }
  if (m.block && m.block.length !== 4 * batch) {
    throw new Error(`Mask block has ${m.block.length} entries; a batch of ${batch} needs ${4 * batch}.`);
  }
  const t = new Int32Array(MASK_FIELDS * batch);
  for (let b = 0; b < batch; b++) {
    const row = [
      m.validStart[b],
      m.validEnd[b],
      ...(m.block ? m.block.subarray(4 * b, 4 * b + 4) : [0, 0, 0, 0]),
    ];
    for (let f = 0; f < MASK_FIELDS; f += 2) {
      const [lo, hi] = [row[f], row[f + 1]];
      if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && hi <= seqLen && lo <= hi)) {
        const what = ['valid range', 'block A', 'block B'][f / 2];
        throw new Error(`Mask sequence ${b} has ${what} [${lo}, ${hi}), outside 0..${seqLen} or reversed.`);
      }
    }
    t.set(row, MASK_FIELDS * b);
  }
  return t;
}

/** Uploads a mask description; release `table` when the attention calls that use it are submitted. */
export function uploadMask(gpu: Gpu, m: MaskDescription): GpuMask {
  const data = maskTable(m);
  return { desc: m, table: gpu.tensor('i32', [data.length], data, { label: 'attention-mask' }) };
}
