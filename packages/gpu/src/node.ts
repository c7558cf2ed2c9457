/**
 * Node entry: Dawn through the npm package `webgpu`.
 *
 * ```ts
 * import { requestNodeGpu } from '@llara/gpu/node';
 * const gpu = await requestNodeGpu({ backend: 'vulkan' });
 * ```
 */
import { GpuUnavailableError, LAVAPIPE_HINT } from './errors.ts';
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

/**
 * Dawn's binding: `webgpu` is an optional peer dependency of this package (the browser entry does not
 * need it), so a Node user without it gets one sentence naming it when importing this entry.
 */
async function loadDawn(): Promise<typeof import('webgpu')> {
  try {
    return await import('webgpu');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /'webgpu'/.test(String(e)))
      throw new GpuUnavailableError(
        "The npm package 'webgpu' (Dawn for Node) is not installed: run `npm install webgpu@^0.6.2` to use @llara/gpu/node.",
      );
    throw e;
  }
}

// Loaded when this module is (top-level await), as a static import would be. Loading it lazily inside
// requestNodeGpu made Dawn abort ("std::system_error: Invalid argument") in about half of the runs of
// gpu.test.ts under vitest, on the third device of the file.
const { create, globals } = await loadDawn();

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
