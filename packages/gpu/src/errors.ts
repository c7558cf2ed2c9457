/** Errors a user can act on: the message is one sentence naming the thing and the problem. */
export class GpuError extends Error {
  override name = 'GpuError';
}

/** No WebGPU adapter answered. */
export class GpuUnavailableError extends GpuError {
  override name = 'GpuUnavailableError';
}

/** A request the device cannot serve (too large for a binding, the buffer limit, or memory). */
export class GpuLimitError extends GpuError {
  override name = 'GpuLimitError';
}

/** The device was lost (driver reset, destroyed, out of memory). */
export class DeviceLostError extends GpuError {
  override name = 'DeviceLostError';
}

export const LAVAPIPE_HINT =
  'on Debian 12 without a GPU install Mesa lavapipe from bookworm-backports ' +
  '(apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1; see README "No GPU?")';
