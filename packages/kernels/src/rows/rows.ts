/**
 * Gather selected rows of a [T, D] tensor, and the matching scatter-add (its backward). Used to pick
 * the rows a loss reads (pooled positions, targets) and to route their gradients back.
 *
 * Layouts (row-major, D contiguous): x, dx: f32 [T, D]; rows: i32 [R]; out, dOut: f32 [R, D].
 * Rows outside [0, T) gather zeros and scatter nothing.
 *
 * ```ts
 * gatherRows(rec, hidden, eosRows, pooled);     // pooled[r] = hidden[eosRows[r]]
 * scatterAddRows(rec, dPooled, eosRows, dHidden); // dHidden[eosRows[r]] += dPooled[r]
 * ```
 */
import { grid1d, params, type Recorder, type Tensor } from '@llara/gpu';
import { ELEMENT_WG } from '../elementwise/elementwise.ts';
import { expectNoAlias, expectTensor } from '../elementwise/tensor-checks.ts';
import code from './rows.wgsl?raw';

function dispatch(rec: Recorder, scatter: boolean, full: Tensor, rows: Tensor, sel: Tensor): void {
  const kernel = scatter ? 'scatterAddRows' : 'gatherRows';
  const [fullName, selName] = scatter ? ['dx', 'dOut'] : ['x', 'out'];
  expectTensor(kernel, fullName, full, 'f32');
  expectTensor(kernel, 'rows', rows, 'i32');
  const D = full.shape.length >= 2 ? full.shape[full.shape.length - 1] : 0;
  if (D === 0) throw new Error(`${kernel}: the ${fullName} tensor must be [T, D], but it is ${full}.`);
  const T = full.size / D;
  const R = rows.size;
  expectTensor(kernel, selName, sel, 'f32', R * D);
  const written: [string, Tensor] = scatter ? [fullName, full] : [selName, sel];
  expectNoAlias(kernel, written, scatter ? [selName, sel] : [fullName, full], ['rows', rows]);
  const n = R * D;
  const [nx, ny] = grid1d(n, ELEMENT_WG);
  const label = scatter ? 'scatter-add-rows' : 'gather-rows';
  rec.dispatch({
    pipeline: rec.gpu.pipeline({ code, label, defines: { SCATTER: scatter }, constants: { WG: ELEMENT_WG } }),
    params: params([n, D, T, nx]),
    bindings: scatter ? [sel, rows, full] : [full, rows, sel],
    workgroups: [nx, ny],
    label,
  });
}

/** out[r, :] = x[rows[r], :] (zeros for rows outside [0, T)). */
export function gatherRows(rec: Recorder, x: Tensor, rows: Tensor, out: Tensor): void {
  dispatch(rec, false, x, rows, out);
}

/** dx[rows[r], :] += dOut[r, :]. `rows` must hold distinct indices (else writes race); others are skipped. */
export function scatterAddRows(rec: Recorder, dOut: Tensor, rows: Tensor, dx: Tensor): void {
  dispatch(rec, true, dx, rows, dOut);
}
