import { type Gpu, type GpuOptions, requestGpu } from './gpu.ts';

/** The browser's WebGPU device (`navigator.gpu`), with the best limits and features it grants. */
export function requestBrowserGpu(opts: GpuOptions = {}): Promise<Gpu> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return requestGpu(nav?.gpu, {
    ...opts,
    noAdapterHint:
      'this browser offers no WebGPU (use a recent Chrome or Edge; on Linux start it with --enable-unsafe-webgpu)',
  });
}
