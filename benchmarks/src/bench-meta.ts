/**
 * What a benchmark run records about where it ran: the adapter, the date, the command, and the runtime
 * (Node's version, or the browser's user agent when the kernel suite runs in a page).
 *
 * ```ts
 * const meta = benchMeta(gpu, true, 'pnpm bench');
 * ```
 */
import type { Gpu } from '@llara/gpu';
import { devicePeaks } from './roofline.ts';
import type { BenchMeta } from './rows.ts';

export function benchMeta(gpu: Gpu, smoke: boolean, command: string): BenchMeta {
  const a = gpu.caps.adapter;
  const device = a.device || a.description || a.architecture || 'unknown adapter';
  const node = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node;
  return {
    date: new Date().toISOString(),
    device,
    vendor: a.vendor,
    architecture: a.architecture,
    backend: gpu.caps.backend,
    isFallbackAdapter: gpu.caps.isFallbackAdapter,
    smoke,
    command,
    node: node ? `v${node}` : 'none',
    ...(node ? {} : { browser: globalThis.navigator?.userAgent ?? 'unknown browser' }),
    peaks: devicePeaks(device)?.source ?? null,
  };
}
