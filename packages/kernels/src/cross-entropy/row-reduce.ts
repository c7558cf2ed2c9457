import type { Gpu } from '@llara/gpu';
import rowReduceWgsl from './row-reduce.wgsl?raw';

/** Invocations per workgroup of the row kernels (WebGPU's default limit, so every device runs them). */
export const ROW_WG = 256;

/** Which reduction a row kernel compiles on this device: subgroups where available, else shared memory. */
export type RowReduceVariant = 'subgroups' | 'f32';

export function rowReduceVariant(gpu: Gpu): RowReduceVariant {
  return gpu.has('subgroups') ? 'subgroups' : 'f32';
}

/** Defines selecting the reduction in row-reduce.wgsl. */
export function rowReduceDefines(gpu: Gpu): Record<string, boolean> {
  return { SUBGROUPS: rowReduceVariant(gpu) === 'subgroups' };
}

/** Prepends the workgroup reductions (and their `enable` line, which must come first) to a kernel. */
export function withRowReduce(kernelSource: string): string {
  return `${rowReduceWgsl}\n${kernelSource}`;
}
