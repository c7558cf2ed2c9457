/**
 * Node entry: Dawn through the npm package `webgpu` (an optional peer dependency of this package: the
 * browser entry does not need it; without it, importing this entry fails with Node's "Cannot find
 * package 'webgpu'"). It is a static import on purpose: loading Dawn lazily with `import()` inside
 * requestNodeGpu made Dawn abort ("std::system_error: Invalid argument") in about half of the runs of
 * gpu.test.ts under vitest.
 *
 * ```ts
 * import { requestNodeGpu } from '@llara/gpu/node';
 * const gpu = await requestNodeGpu({ backend: 'vulkan' });
 * ```
 */
import { create, globals } from 'webgpu';
import { LAVAPIPE_HINT } from './errors.ts';
import { type Gpu, type GpuOptions, requestGpu } from './gpu.ts';

export interface NodeGpuOptions extends GpuOptions {
  /** Dawn backend: 'vulkan', 'metal', 'd3d12', ... */
  backend?: string;
  /** Adapter name (substring), as Dawn's `adapter=` option takes it. */
  adapter?: string;
  powerPreference?: GPUPowerPreference;
  /** Extra Dawn options, e.g. 'disable-dawn-features=timestamp_quantization'. */
  dawnOptions?: string[];
}

let globalsInstalled = false;

export async function requestNodeGpu(opts: NodeGpuOptions = {}): Promise<Gpu> {
  if (!globalsInstalled) {
    Object.assign(globalThis, globals);
    globalsInstalled = true;
  }
  const backend = opts.backend ?? process.env.LLARA_BACKEND;
  const adapterName = opts.adapter ?? process.env.LLARA_ADAPTER;
  const args = [
    'enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia',
    ...(opts.dawnOptions ?? []),
  ];
  if (backend) args.push(`backend=${backend}`);
  if (adapterName) args.push(`adapter=${adapterName}`);
  let instance: GPU | null = create(args);
  try {
    return await requestGpu(instance, { ...opts, owner: instance, noAdapterHint: LAVAPIPE_HINT });
  } finally {
    instance = null;
  }
}
