/**
 * Global gradient norm and clip factor on the GPU, without reading back to the CPU:
 * `zeroAcc` -> `sumSquaresInto` once per gradient tensor -> `clipFactor` -> `adamw({ scaleBuf })`.
 *
 * Shapes: `acc` f32 [1] (squared-norm accumulator), `x` f32 [n] (any shape, contiguous, n >= 1),
 * `out` f32 [2] = [norm, clip factor]. `acc` and `out` must be different tensors.
 *
 * ```ts
 * const acc = gpu.tensor('f32', [1]);
 * const clip = gpu.tensor('f32', [2]);
 * const rec = gpu.recorder();
 * zeroAcc(rec, acc);
 * for (const g of grads) sumSquaresInto(rec, g, acc);
 * clipFactor(rec, acc, clip, 1.0);
 * for (const [p, g, m, v] of slots) adamw(rec, p, g, m, v, { ...hyper, step, scaleBuf: clip });
 * rec.submit();
 * ```
 */
import { type Gpu, params, type Recorder, type Tensor } from '@llara/gpu';
import clipCode from './clip-factor.wgsl?raw';
import sumCode from './sum-squares.wgsl?raw';
import zeroCode from './zero.wgsl?raw';

const WG = 256;
/** Upper bound on first-pass workgroups (enough to fill a large GPU; each strides over its share). */
const MAX_GROUPS = 1024;
/** Elements per workgroup below which one more workgroup is not worth a second dispatch. */
const PER_GROUP = 16 * WG;

/**
 * One partials buffer per device. Dispatches on a device run in queue order, so every call can share
 * it; it is never returned to the pool, where another user could write it before this work runs.
 */
const partialsByGpu = new WeakMap<Gpu, Tensor>();

function partialsFor(gpu: Gpu): Tensor {
  let t = partialsByGpu.get(gpu);
  if (!t) {
    t = gpu.tensor('f32', [MAX_GROUPS], undefined, { label: 'grad-norm partials', pooled: false });
    partialsByGpu.set(gpu, t);
  }
  return t;
}

function checkF32(t: Tensor, what: string, minSize: number): void {
  if (t.dtype !== 'f32' || t.size < minSize) {
    throw new Error(`${what} ${t} must be f32 with at least ${minSize} element${minSize > 1 ? 's' : ''}.`);
  }
}

/** Sets every element of `acc` to zero. */
export function zeroAcc(rec: Recorder, acc: Tensor): void {
  checkF32(acc, 'zeroAcc: acc', 1);
  rec.dispatch({
    pipeline: rec.gpu.pipeline({ code: zeroCode, label: 'zero-acc' }),
    params: params([acc.size]),
    bindings: [acc],
    workgroups: [1],
    label: 'zero-acc',
  });
}

/** Adds the sum of squares of `x` to `acc[0]` (one or two dispatches; deterministic order). */
export function sumSquaresInto(rec: Recorder, x: Tensor, acc: Tensor): void {
  checkF32(x, 'sumSquaresInto: x', 1);
  checkF32(acc, 'sumSquaresInto: acc', 1);
  const n = x.size;
  const groups = Math.min(MAX_GROUPS, Math.ceil(n / PER_GROUP));
  const partials = partialsFor(rec.gpu);
  rec.dispatch({
    pipeline: rec.gpu.pipeline({ code: sumCode, label: 'sum-squares', constants: { WG } }),
    params: params([n, groups, groups === 1 ? 1 : 0]),
    bindings: [x, partials, acc],
    workgroups: [groups],
    label: 'sum-squares',
  });
  if (groups === 1) return;
  rec.dispatch({
    pipeline: rec.gpu.pipeline({
      code: sumCode,
      label: 'sum-squares-finish',
      defines: { FINISH: true },
      constants: { WG },
    }),
    params: params([groups, 1, 1]),
    bindings: [partials, acc],
    workgroups: [1],
    label: 'sum-squares-finish',
  });
}

/**
 * `out[0] = sqrt(acc[0])`, `out[1] = min(1, maxNorm / (out[0] + 1e-6))` as
 * `torch.nn.utils.clip_grad_norm_`; `maxNorm <= 0` disables clipping (factor 1).
 */
export function clipFactor(rec: Recorder, acc: Tensor, out: Tensor, maxNorm: number): void {
  checkF32(acc, 'clipFactor: acc', 1);
  checkF32(out, 'clipFactor: out', 2);
  if (acc.buffer === out.buffer) throw new Error('clipFactor: acc and out must be different tensors.');
  rec.dispatch({
    pipeline: rec.gpu.pipeline({ code: clipCode, label: 'clip-factor' }),
    params: params([{ f32: maxNorm }]),
    bindings: [acc, out],
    workgroups: [1],
    label: 'clip-factor',
  });
}
