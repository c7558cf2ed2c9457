/** The WebGPU device the page runs on, and one line saying what the kernels will use on it. */
import { type Gpu, requestBrowserGpu } from '@llara/gpu';

export { formatCapabilities } from '@llara/gpu';

export function connectGpu(): Promise<Gpu> {
  return requestBrowserGpu({ label: 'llara-web' });
}

/** e.g. "swiftshader (google, software fallback) · f16: no · subgroups: yes (4..4) · subgroup matrices: no" */
export function deviceSummary(gpu: Gpu): string {
  const a = gpu.caps.adapter;
  const name = a.device || a.description || a.architecture || 'unnamed adapter';
  const extra = [a.vendor, gpu.caps.isFallbackAdapter ? 'software fallback' : ''].filter(Boolean).join(', ');
  const sizes = gpu.caps.subgroupSizes;
  const subgroups = gpu.has('subgroups') ? `yes${sizes ? ` (${sizes.min}..${sizes.max})` : ''}` : 'no';
  return [
    `${name}${extra ? ` (${extra})` : ''}`,
    `f16: ${gpu.has('shader-f16') ? 'yes' : 'no'}`,
    `subgroups: ${subgroups}`,
    `subgroup matrices: ${gpu.has('subgroup-matrix') ? 'yes' : 'no'}`,
  ].join(' · ');
}
