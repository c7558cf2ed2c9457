/**
 * What the benchmark device is and which kernel variants it will run at LLaMA-2-7B shapes: the first
 * thing to read when numbers look wrong (is shader-f16 on? are subgroup matrices found? which matmul
 * family did a projection get?).
 */
import { formatBytes, type Gpu } from '@llara/gpu';
import { describeAttention, matmulVariant, rmsnormVariant } from '@llara/kernels';
import { devicePeaks } from './roofline.ts';
import { errorMessage } from './rows.ts';

export interface DoctorReport {
  adapter: Gpu['caps']['adapter'];
  backend: string;
  isFallbackAdapter: boolean;
  features: string[];
  kernelFeatures: Record<string, boolean>;
  subgroupSizes: { min: number; max: number } | null;
  subgroupMatrixConfigs: Gpu['caps']['subgroupMatrixConfigs'];
  limits: Record<string, number>;
  maxBindingSize: string;
  peaks: ReturnType<typeof devicePeaks>;
  /** The kernel each call site gets on this device (or why it cannot run). */
  variants: Record<string, string>;
  node: string;
  platform: string;
}

export function doctor(gpu: Gpu): DoctorReport {
  const variants: Record<string, string> = {};
  const attempt = (name: string, f: () => string) => {
    try {
      variants[name] = f();
    } catch (e) {
      variants[name] = `unavailable: ${errorMessage(e)}`;
    }
  };
  const proj = { M: 2048, N: 4096, K: 4096, transB: true };
  attempt('matmul 2048x4096x4096 f32 weights', () => matmulVariant(gpu, { ...proj, bDtype: 'f32' }));
  attempt('matmul 2048x4096x4096 f16 weights', () => matmulVariant(gpu, { ...proj, bDtype: 'f16' }));
  attempt('matmul 2048x4096x4096 bf16 weights', () => matmulVariant(gpu, { ...proj, bDtype: 'bf16' }));
  attempt('matmul forced subgroup-matrix', () =>
    matmulVariant(gpu, { ...proj, bDtype: 'f16', variant: 'subgroup-matrix' }),
  );
  attempt('attention hd 128', () => describeAttention(gpu, { numHeads: 32, numKvHeads: 32, headDim: 128 }));
  attempt('rmsnorm', () => rmsnormVariant(gpu));
  const caps = gpu.caps;
  return {
    adapter: caps.adapter,
    backend: caps.backend,
    isFallbackAdapter: caps.isFallbackAdapter,
    features: caps.features,
    kernelFeatures: Object.fromEntries(
      (['shader-f16', 'subgroups', 'subgroup-matrix', 'timestamp-query'] as const).map((f) => [
        f,
        gpu.has(f),
      ]),
    ),
    subgroupSizes: caps.subgroupSizes,
    subgroupMatrixConfigs: caps.subgroupMatrixConfigs,
    limits: caps.limits,
    maxBindingSize: formatBytes(Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize)),
    peaks: devicePeaks(caps.adapter.device || caps.adapter.description),
    variants,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}
