/**
 * Configuration of the f16 subgroup-matrix matmul (matmul-subgroup-matrix.wgsl): which matrix shape the
 * device offers, the workgroup size, and the constants the CPU emulation mirrors.
 * The kernel itself is verified only on the H100 (benchmarks/gpu/run-all.sh); elsewhere its tiling and
 * index arithmetic are verified through matmul-subgroup-matrix.emu.ts.
 */
import type { DType, Gpu } from '@llara/gpu';
import sidesWgsl from '../common/subgroup-matrix-sides.wgsl?raw';
import { withWeights } from '../common/weights.ts';
import { withConstants } from '../common/with-constants.ts';
import commonWgsl from './matmul-common.wgsl?raw';
import headWgsl from './matmul-subgroup-matrix.head.wgsl?raw';
import bodyWgsl from './matmul-subgroup-matrix.wgsl?raw';

/** One subgroup-matrix product: left M x K (f16), right K x N (f16), result M x N (f32). */
export interface SubgroupMatrixShape {
  M: number;
  N: number;
  K: number;
}

/**
 * Workgroup tiling of matmul-subgroup-matrix.wgsl. Constraints (`subgroupMatrixTileProblem` checks them):
 * BM divisible by WM x SM and BN by WN x SN (each subgroup owns whole result matrices), BK by SK and by 4
 * (slices are copied 4 values at a time), and the slices (twice with `double`) plus the epilogue scratch
 * within the device's workgroup storage.
 */
export interface SubgroupMatrixTile {
  /** Output rows and columns per workgroup. */
  BM: number;
  BN: number;
  /** Depth of the K slices held in workgroup memory. */
  BK: number;
  /** Subgroups as a WM x WN grid over the tile (NSG = WM * WN compute; the workgroup has NSG subgroups). */
  WM: number;
  WN: number;
  /** Two slice buffers: the next slice is copied while this one is multiplied, one barrier per slice. */
  double: boolean;
}

/**
 * The tile `matmul` uses unless `MatmulOptions.smTile` names another: the first one written. The
 * alternatives below are candidates for the H100 sweep (`matmul_tile` rows of the kernel benchmark);
 * the default changes when a measurement says one is faster.
 */
export const SUBGROUP_MATRIX_TILE: SubgroupMatrixTile = {
  BM: 64,
  BN: 64,
  BK: 32,
  WM: 2,
  WN: 2,
  double: false,
};

/** Tiles the benchmark sweeps and the device checks verify (each also emulated on the CPU in tests). */
export const SUBGROUP_MATRIX_TILES: readonly SubgroupMatrixTile[] = [
  SUBGROUP_MATRIX_TILE,
  { BM: 64, BN: 64, BK: 32, WM: 2, WN: 2, double: true },
  { BM: 128, BN: 64, BK: 32, WM: 4, WN: 2, double: true },
  { BM: 64, BN: 128, BK: 32, WM: 2, WN: 4, double: true },
  { BM: 128, BN: 128, BK: 32, WM: 2, WN: 4, double: true },
  { BM: 128, BN: 128, BK: 32, WM: 4, WN: 4, double: false },
];

/** A short name for logs and benchmark keys, e.g. `128x64x32-4x2-db`. */
export function subgroupMatrixTileName(t: SubgroupMatrixTile): string {
  return `${t.BM}x${t.BN}x${t.BK}-${t.WM}x${t.WN}${t.double ? '-db' : ''}`;
}

/** Workgroup memory the kernel declares for a tile, in bytes. */
export function subgroupMatrixTileBytes(t: SubgroupMatrixTile, s: SubgroupMatrixShape): number {
  const slices = (t.double ? 2 : 1) * (t.BM * t.BK + t.BK * t.BN) * 2;
  return slices + t.WM * t.WN * s.M * s.N * 4;
}

/** Why a tile cannot run with this matrix shape on this device, or null when it can. */
export function subgroupMatrixTileProblem(
  t: SubgroupMatrixTile,
  s: SubgroupMatrixShape,
  limits: { maxComputeWorkgroupStorageSize: number; maxComputeInvocationsPerWorkgroup: number },
  maxSubgroupSize: number,
): string | null {
  const name = subgroupMatrixTileName(t);
  if (t.BM % (t.WM * s.M) !== 0 || t.BN % (t.WN * s.N) !== 0)
    return `tile ${name} does not divide into ${t.WM}x${t.WN} subgroups of ${s.M}x${s.N} matrices`;
  if (t.BK % s.K !== 0 || t.BK % 4 !== 0 || t.BM % 4 !== 0 || t.BN % 4 !== 0)
    return `tile ${name}: BK must be a multiple of ${s.K} and 4, BM and BN of 4`;
  const bytes = subgroupMatrixTileBytes(t, s);
  if (bytes > limits.maxComputeWorkgroupStorageSize)
    return `tile ${name} needs ${bytes} bytes of workgroup memory, the device allows ${limits.maxComputeWorkgroupStorageSize}`;
  if (t.WM * t.WN * maxSubgroupSize > limits.maxComputeInvocationsPerWorkgroup)
    return `tile ${name} needs ${t.WM * t.WN * maxSubgroupSize} invocations per workgroup, the device allows ${limits.maxComputeInvocationsPerWorkgroup}`;
  return null;
}

const bodyCode = `${headWgsl}\n${withWeights(`${commonWgsl}\n${bodyWgsl}\n${sidesWgsl}`)}`;

/** The kernel's WGSL for a tile (before the `#if` defines: add `subgroupMatrixTileDefines`). */
export function subgroupMatrixCode(t: SubgroupMatrixTile = SUBGROUP_MATRIX_TILE): string {
  return withConstants(bodyCode, { BM: t.BM, BN: t.BN, BK: t.BK, WM: t.WM, WN: t.WN });
}

export function subgroupMatrixTileDefines(t: SubgroupMatrixTile): Record<string, boolean> {
  return { DOUBLE: t.double };
}

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
  const { M, N, K } = configs[0];
  const shape = { M, N, K };
  if (subgroupMatrixTileProblem(SUBGROUP_MATRIX_TILE, shape, gpu.limits, gpu.caps.subgroupSizes.max))
    return null;
  return shape;
}

/**
 * Invocations of a tensor-core workgroup of `subgroups` computing subgroups: each of the largest size the
 * device may run (WGSL requires a multiple of it; smaller runtime subgroups leave the extra ones idle).
 */
export function subgroupMatrixWorkgroupSize(gpu: Gpu, subgroups: number): number {
  return subgroups * (gpu.caps.subgroupSizes?.max ?? 32);
}

export function subgroupMatrixDefines(s: SubgroupMatrixShape): Record<string, boolean> {
  for (const d of [s.M, s.N, s.K]) {
    if (d !== 8 && d !== 16) throw new Error(`Subgroup matrices of side ${d} are not supported (8, 16 are)`);
  }
  return { SM16: s.M === 16, SN16: s.N === 16, SK16: s.K === 16 };
}

/** Whether the kernel copies B's slices in runs of 8 (B_RUN8): 4-bit codes, 8 to a word (wload8RC). */
export function subgroupMatrixRun8(bDtype: DType): boolean {
  return bDtype === 'q4' || bDtype === 'nf4';
}
