/**
 * RMSNorm (LLaMA) forward and input gradient. One workgroup per row; row statistics are reduced with
 * subgroups where the device has them, else with a workgroup-memory tree (see row-sum.wgsl).
 *
 * Layouts (row-major, last dimension contiguous):
 *   x, y, dy, dx: f32 [T, D]   (any shape whose last dimension is D; T = size / D)
 *   w:            [D] f32, f16 or bf16 (read as stored)
 *
 * ```ts
 * const rec = gpu.recorder();
 * rmsnorm(rec, hidden, normWeight, normed, 1e-5);
 * rec.submit();
 * ```
 */
import { type Gpu, grid1d, params, type Recorder, type Tensor } from '@llara/gpu';
import { weightDefines, weightView, withWeights } from '../common/weights.ts';
import { expectNoAlias, expectTensor } from '../elementwise/tensor-checks.ts';
import forwardWgsl from './rmsnorm.wgsl?raw';
import backwardWgsl from './rmsnorm-backward.wgsl?raw';
import rowSumWgsl from './row-sum.wgsl?raw';

/** How the row sums are reduced on this device. */
export type RmsnormVariant = 'subgroups' | 'f32';

export function rmsnormVariant(gpu: Gpu): RmsnormVariant {
  return gpu.has('subgroups') ? 'subgroups' : 'f32';
}

// WGSL wants every `enable` before any declaration: `enable subgroups` first, then the weight chunk
// (which may `enable f16`), then the reduction and the kernel.
const ENABLE_SUBGROUPS = '#if SUBGROUPS\nenable subgroups;\n#endif\n';
const FORWARD = ENABLE_SUBGROUPS + withWeights(`${rowSumWgsl}\n${forwardWgsl}`);
const BACKWARD = ENABLE_SUBGROUPS + withWeights(`${rowSumWgsl}\n${backwardWgsl}`);

// Short rows (stories260K's D = 64) would leave most of 256 invocations idle.
function rowWorkgroupSize(d: number): number {
  return d <= 256 ? 64 : 256;
}

function rowShape(kernel: string, x: Tensor, w: Tensor): { T: number; D: number } {
  const D = w.size;
  expectTensor(kernel, 'x', x, 'f32');
  expectTensor(kernel, 'weight', w, ['f32', 'f16', 'bf16']);
  if (D === 0 || x.shape[x.shape.length - 1] !== D) {
    throw new Error(`${kernel}: the last dimension of x (${x}) must equal the weight's size ${D}.`);
  }
  return { T: x.size / D, D };
}

function pipeline(gpu: Gpu, code: string, label: string, w: Tensor, D: number): GPUComputePipeline {
  return gpu.pipeline({
    code,
    label,
    defines: { SUBGROUPS: rmsnormVariant(gpu) === 'subgroups', ...weightDefines(weightView(gpu, w.dtype)) },
    constants: { WG: rowWorkgroupSize(D) },
  });
}

/** y[t,:] = x[t,:] * rsqrt(mean(x[t,:]^2) + eps) * w.  `y` may not share x's buffer. */
export function rmsnorm(rec: Recorder, x: Tensor, w: Tensor, y: Tensor, eps: number): void {
  const { T, D } = rowShape('rmsnorm', x, w);
  expectTensor('rmsnorm', 'y', y, 'f32', x.size);
  expectNoAlias('rmsnorm', ['y', y], ['x', x], ['weight', w]);
  const [nx, ny] = grid1d(T, 1);
  rec.dispatch({
    pipeline: pipeline(rec.gpu, FORWARD, 'rmsnorm', w, D),
    params: params([T, D, nx, { f32: eps }]),
    bindings: [x, w, y],
    workgroups: [nx, ny],
    label: 'rmsnorm',
  });
}

/**
 * Input gradient of `rmsnorm` for a frozen weight: dx = (or, with `accumulate`, dx +=) dL/dx given
 * dy = dL/dy. `dx` may not share a buffer with x or dy.
 */
export function rmsnormBackward(
  rec: Recorder,
  x: Tensor,
  w: Tensor,
  dy: Tensor,
  dx: Tensor,
  eps: number,
  accumulate = false,
): void {
  const { T, D } = rowShape('rmsnormBackward', x, w);
  expectTensor('rmsnormBackward', 'dy', dy, 'f32', x.size);
  expectTensor('rmsnormBackward', 'dx', dx, 'f32', x.size);
  expectNoAlias('rmsnormBackward', ['dx', dx], ['x', x], ['dy', dy], ['weight', w]);
  const [nx, ny] = grid1d(T, 1);
  rec.dispatch({
    pipeline: pipeline(rec.gpu, BACKWARD, 'rmsnorm-backward', w, D),
    params: params([T, D, nx, { f32: eps }, accumulate ? 1 : 0]),
    bindings: [x, w, dy, dx],
    workgroups: [nx, ny],
    label: 'rmsnorm-backward',
  });
}
