/**
 * Devices the kernel tests run on: the adapter with every feature it offers, and the same adapter
 * restricted to the plain f32 path (no shader-f16, no subgroups) with WebGPU's default limits, as a
 * strict browser would give. Variants a device lacks (subgroup matrices on lavapipe) are tested
 * through CPU emulations of their tiling instead.
 */
import type { Gpu } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';

export interface TestGpu {
  name: string;
  gpu: Gpu;
}

export async function openTestGpus(): Promise<TestGpu[]> {
  const full = await requestNodeGpu();
  const plain = await requestNodeGpu({
    disable: ['shader-f16', 'subgroups', 'subgroup-matrix'],
    defaultLimits: true,
  });
  return [
    {
      name: `full(${[...full.features].filter((f) => f === 'shader-f16' || f === 'subgroups').join('+') || 'f32'})`,
      gpu: full,
    },
    { name: 'plain-f32', gpu: plain },
  ];
}

export function closeTestGpus(gpus: TestGpu[]): void {
  for (const g of gpus) g.gpu.destroy();
}
