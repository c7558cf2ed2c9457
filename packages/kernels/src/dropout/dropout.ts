/**
 * Inverted dropout with a counter-based hash RNG: no RNG state, no stored mask. Element i is kept when
 * `hash(seed, offset + i) >= p * 2^32` and scaled by `1 / (1 - p)`. Backward is the same call on `dy`
 * with the same seed and offset. Use distinct `offset`s (or seeds) for different tensors of one step.
 *
 * Shapes: `x`, `y` f32 with the same number of elements (any shape, contiguous); `x` and `y` must be
 * different tensors unless p = 0. `seed` and `offset` are u32.
 *
 * ```ts
 * dropout(rec, h, hDrop, { p: 0.1, seed: step, offset: layer * h.size });
 * // backward:
 * dropout(rec, dhDrop, dh, { p: 0.1, seed: step, offset: layer * h.size });
 * ```
 */
import { grid1d, params, type Recorder, type Tensor } from '@llara/gpu';
import { dropoutConstants, pcgHash } from './dropout.ref.ts';
import code from './dropout.wgsl?raw';

const WG = 256;

export interface DropoutOptions {
  /** Drop probability, 0 <= p <= 1. */
  p: number;
  /** u32 seed. */
  seed: number;
  /** u32 counter offset added to the element index (default 0). */
  offset?: number;
}

export function dropout(rec: Recorder, x: Tensor, y: Tensor, o: DropoutOptions): void {
  if (x.dtype !== 'f32' || y.dtype !== 'f32') throw new Error(`dropout: ${x} and ${y} must be f32.`);
  if (x.size !== y.size) throw new Error(`dropout: ${x} and ${y} have different sizes.`);
  const { threshold, scale, dropAll } = dropoutConstants(o.p);
  if (o.p === 0) {
    if (x.buffer !== y.buffer) rec.copy(x, y, x.byteLength);
    return;
  }
  if (x.buffer === y.buffer) throw new Error('dropout: x and y must be different tensors when p > 0.');
  const n = x.size;
  const [nx, ny] = grid1d(n, WG, rec.gpu.limits.maxComputeWorkgroupsPerDimension);
  rec.dispatch({
    pipeline: rec.gpu.pipeline({ code, label: 'dropout', constants: { WG } }),
    params: params([
      n,
      nx,
      pcgHash(o.seed >>> 0),
      (o.offset ?? 0) >>> 0,
      threshold,
      dropAll ? 1 : 0,
      { f32: scale },
    ]),
    bindings: [x, y],
    workgroups: [nx, ny],
    label: 'dropout',
  });
}
