/**
 * Token embedding lookup and, for trainable rows, its gradient (a deterministic scatter-add without
 * float atomics).
 *
 * Layouts (row-major, last dimension contiguous): ids: i32 [T]; table: [V, D] f32, f16, bf16, q8, q4 or nf4;
 * out, dOut: f32 [T, D]; dRows: f32 [R, D] for the table rows firstRow .. firstRow + R - 1.
 *
 * ```ts
 * embedding(rec, inputIds, embedTokens, hidden);            // ids outside [0, V) give zero rows
 * embeddingBackward(rec, inputIds, dHidden, dSpecial, 32000); // rows 32000.. are trainable
 * ```
 */
import { grid1d, params, type Recorder, type Tensor } from '@llara/gpu';
import { weightDefines, weightView, withWeights } from '../common/weights.ts';
import { ELEMENT_WG } from '../elementwise/elementwise.ts';
import { expectTensor } from '../elementwise/tensor-checks.ts';
import forwardWgsl from './embedding.wgsl?raw';
import backwardWgsl from './embedding-backward.wgsl?raw';

const FORWARD = withWeights(forwardWgsl);

function tableShape(kernel: string, t: Tensor, what: string): { rows: number; D: number } {
  if (t.shape.length !== 2)
    throw new Error(`${kernel}: the ${what} tensor must be 2-D [rows, D], but it is ${t}.`);
  return { rows: t.shape[0], D: t.shape[1] };
}

export interface EmbeddingPart {
  /** Table row held by the tensor's first row (a table split by rows into several tensors). */
  row0?: number;
  /** Leave the rows of ids outside this part unchanged instead of zeroing them (every part but the first). */
  keep?: boolean;
}

/**
 * out[t, :] = table[ids[t] - row0, :] for ids in [row0, row0 + V), else zeros (or unchanged with `keep`).
 * A table split by rows is gathered part by part: the first part zeroes, the others keep.
 */
export function embedding(
  rec: Recorder,
  ids: Tensor,
  table: Tensor,
  out: Tensor,
  part: EmbeddingPart = {},
): void {
  const { rows: V, D } = tableShape('embedding', table, 'table');
  expectTensor('embedding', 'table', table, ['f32', 'f16', 'bf16', 'q8', 'q4', 'nf4']);
  const row0 = part.row0 ?? 0;
  if (!Number.isInteger(row0) || row0 < 0 || row0 + V > 2 ** 31)
    throw new Error(`embedding: row0 ${row0} must be a non-negative integer row index.`);
  expectTensor('embedding', 'ids', ids, 'i32');
  const T = ids.size;
  expectTensor('embedding', 'out', out, 'f32', T * D);
  const n = T * D;
  const [nx, ny] = grid1d(n, ELEMENT_WG);
  rec.dispatch({
    pipeline: rec.gpu.pipeline({
      code: FORWARD,
      label: 'embedding',
      defines: weightDefines(weightView(rec.gpu, table.dtype)),
      constants: { WG: ELEMENT_WG },
    }),
    params: params([n, D, V, nx, row0, part.keep ? 1 : 0]),
    bindings: [ids, table, out],
    workgroups: [nx, ny],
    label: 'embedding',
  });
}

/**
 * dRows[r, :] += sum of dOut[t, :] over the tokens t with ids[t] == firstRow + r. Cost O(R * T * D):
 * meant for a few trainable rows (e.g. LLaRA's special tokens).
 */
export function embeddingBackward(
  rec: Recorder,
  ids: Tensor,
  dOut: Tensor,
  dRows: Tensor,
  firstRow: number,
): void {
  const { rows: R, D } = tableShape('embeddingBackward', dRows, 'dRows');
  expectTensor('embeddingBackward', 'dRows', dRows, 'f32');
  expectTensor('embeddingBackward', 'ids', ids, 'i32');
  const T = ids.size;
  expectTensor('embeddingBackward', 'dOut', dOut, 'f32', T * D);
  if (!Number.isInteger(firstRow) || firstRow < 0 || firstRow + R > 2 ** 31) {
    throw new Error(`embeddingBackward: firstRow ${firstRow} must be a non-negative integer row index.`);
  }
  const colBlocks = Math.ceil(D / ELEMENT_WG);
  const [nx, ny] = grid1d(R * colBlocks, 1);
  rec.dispatch({
    pipeline: rec.gpu.pipeline({
      code: backwardWgsl,
      label: 'embedding-backward',
      constants: { WG: ELEMENT_WG },
    }),
    params: params([T, D, R, { i32: firstRow }, colBlocks, nx]),
    bindings: [ids, dOut, dRows],
    workgroups: [nx, ny],
    label: 'embedding-backward',
  });
}
