/**
 * Configuration of the f16 subgroup-matrix matmul (matmul-subgroup-matrix.wgsl): which matrix shape the
 * device offers, the workgroup size, and the constants the CPU emulation mirrors.
 * The kernel itself is verified only on the H100 (benchmarks/gpu/run-all.sh); elsewhere its tiling and
 * index arithmetic are verified through matmul-subgroup-matrix.emu.ts.
 */
import type { Gpu } from '@llara/gpu';
import sidesWgsl from '../common/subgroup-matrix-sides.wgsl?raw';
import { withWeights } from '../common/weights.ts';
import commonWgsl from './matmul-common.wgsl?raw';
import headWgsl from './matmul-subgroup-matrix.head.wgsl?raw';
import bodyWgsl from './matmul-subgroup-matrix.wgsl?raw';

/** One subgroup-matrix product: left M x K (f16), right K x N (f16), result M x N (f32). */
export interface SubgroupMatrixShape {
  M: number;
  N: number;
  K: number;
}

/** Constants of matmul-subgroup-matrix.wgsl (keep equal): tile, slice depth, computing subgroups. */
export const SUBGROUP_MATRIX_TILE = { BM: 64, BN: 64, BK: 32, NSG: 4 } as const;

export const subgroupMatrixCode = `${headWgsl}\n${withWeights(`${commonWgsl}\n${bodyWgsl}\n${sidesWgsl}`)}`;

/**
 * The f16 -> f32 configuration to use (largest product first; the kernel supports sides of 8 and 16),
 * or null when the device has none. Accumulating in f16 (Metal's only f16 result) is not used.
 */
export function subgroupMatrixShape(gpu: Gpu): SubgroupMatrixShape | null {
  if (!gpu.has('subgroup-matrix') || !gpu.caps.subgroupSizes) return null;
  const ok = (d: number) => d === 8 || d === 16;
  const configs = gpu.caps.subgroupMatrixConfigs
    .filter((c) => c.componentType === 'f16' && c.resultComponentType === 'f32')
    .filter((c) => ok(c.M) && ok(c.N) && ok(c.K))
    .sort((x, y) => y.M * y.N * y.K - x.M * x.N * x.K);
  if (configs.length === 0) return null;
  if (subgroupMatrixWorkgroupSize(gpu) > gpu.limits.maxComputeInvocationsPerWorkgroup) return null;
  const { M, N, K } = configs[0];
  return { M, N, K };
}

/** NSG subgroups of the largest size the device may run (WGSL requires a multiple of it). */
export function subgroupMatrixWorkgroupSize(gpu: Gpu): number {
  return SUBGROUP_MATRIX_TILE.NSG * (gpu.caps.subgroupSizes?.max ?? 32);
}

export function subgroupMatrixDefines(s: SubgroupMatrixShape): Record<string, boolean> {
  for (const d of [s.M, s.N, s.K]) {
    if (d !== 8 && d !== 16) throw new Error(`Subgroup matrices of side ${d} are not supported (8, 16 are)`);
  }
  return { SM16: s.M === 16, SN16: s.N === 16, SK16: s.K === 16 };
}
