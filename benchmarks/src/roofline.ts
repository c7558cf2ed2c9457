/**
 * Physical limits of the GPUs this project benchmarks on, so each kernel can report the fraction of its
 * roofline it reaches: compute-bound kernels against the f32 FMA peak (or the dense f16 tensor-core peak
 * for subgroup-matrix kernels), memory-bound ones against HBM bandwidth. Unknown devices (lavapipe,
 * laptops) get null: a fraction is only reported where the peak is a known datasheet number.
 *
 * ```ts
 * const peaks = devicePeaks('nvidia-h100-80gb-hbm3'); // { fp32Gflops: 66900, fp16TensorGflops: 989500, hbmGBps: 3350 }
 * rooflineFraction(30300, 'fp32', peaks); // 0.45
 * ```
 */
import { peakBandwidthGBps } from './index-search.bench.ts';

/** Which limit bounds a kernel: f32 FMA throughput, f16 tensor-core throughput, or memory bandwidth. */
export type Roofline = 'fp32' | 'fp16-tensor' | 'hbm';

export interface DevicePeaks {
  /** Dense f32 FMA throughput, GFLOP/s. */
  fp32Gflops: number;
  /** Dense f16 tensor-core throughput (f32 accumulation), GFLOP/s. */
  fp16TensorGflops: number;
  /** Memory bandwidth, GB/s (the same table as the search benchmark). */
  hbmGBps: number;
  /** The datasheet row these numbers come from. */
  source: string;
}

/** Datasheet peaks by adapter name (Dawn reports e.g. `nvidia-h100-80gb-hbm3`), or null when unknown. */
export function devicePeaks(adapterName: string): DevicePeaks | null {
  const name = adapterName.toUpperCase();
  const hbm = peakBandwidthGBps(adapterName);
  if (hbm === null) return null;
  if (name.includes('H100') && name.includes('PCIE'))
    return { fp32Gflops: 51_200, fp16TensorGflops: 756_000, hbmGBps: hbm, source: 'H100 PCIe' };
  if (name.includes('H100') || name.includes('H200'))
    return { fp32Gflops: 66_900, fp16TensorGflops: 989_500, hbmGBps: hbm, source: 'H100/H200 SXM' };
  if (name.includes('A100'))
    return { fp32Gflops: 19_500, fp16TensorGflops: 312_000, hbmGBps: hbm, source: 'A100' };
  return null;
}

/** The peak (GFLOP/s or GB/s) of one roofline, or null when the device is unknown. */
export function peakOf(roofline: Roofline, peaks: DevicePeaks | null): number | null {
  if (!peaks) return null;
  if (roofline === 'fp32') return peaks.fp32Gflops;
  if (roofline === 'fp16-tensor') return peaks.fp16TensorGflops;
  return peaks.hbmGBps;
}

/** achieved / peak, or null when the device's peak is unknown. */
export function rooflineFraction(
  achieved: number,
  roofline: Roofline,
  peaks: DevicePeaks | null,
): number | null {
  const peak = peakOf(roofline, peaks);
  return peak ? achieved / peak : null;
}
