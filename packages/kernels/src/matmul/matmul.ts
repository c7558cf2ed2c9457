/**
 * General matrix product for every linear layer, LoRA and their gradients:
 *
 *   C[M,N] (f32, row-major) = alpha * op(A) @ op(B) + beta * C
 *
 * A: f32; op(A) = A stored [M,K] (transA false) or A^T with A stored [K,M] (transA true).
 * B: f32 | f16 | bf16 | q8 | q4 | nf4 (a weight, read through `wload` / `wloadRC` / `wload4RC`; a quantized
 *    B is 2-D [rows, cols] with blocks along cols and is dequantized as each tile loads it); op(B) = B^T
 *    with B stored [N,K] (transB true: HF weights [out,in]) or B stored [K,N] (transB false).
 * beta 0 overwrites C without reading it; beta 1 accumulates into it.
 *
 * Kernel families (chosen by feature detection, visible through `matmulVariant`, forced with `variant`):
 * - `gemv` (matmul-gemv.ts): y = x W^T (transB) at M <= 8 tokens, every weight view. Each workgroup owns
 *   4 rows of W and up to 8 tokens; its invocations stride along K reading contiguous runs (one code word
 *   and one scale per quantized run) and keep the partial sums in registers, reduced with subgroupAdd
 *   where the device has subgroups, else in workgroup memory. The weight is read once, with 1024
 *   workgroups at 4096 rows, so the product is bound by memory bandwidth, where 4-bit weights should win.
 *   reg4x4 at M = 1 computes 4x4 outputs per invocation of which 3 rows are clamped duplicates and launches
 *   only N / 32 workgroups. On lavapipe (2 shared cores, 4096 x 4096, median of 9, two runs; no claim
 *   for GPUs) reg4x4 -> gemv took f16 from 84-107 to 35-52 ms and q4 from 57-60 to 20-29 ms at M = 1, f16
 *   from 175-345 to 86-224 ms at M = 8, while q4 at M = 8 went from 73-123 to 95-154 ms (a CPU pays for
 *   decode and per-lane gathers; a GPU for the bytes). Beyond 8 tokens gemv reads the weight once per 8,
 *   and lavapipe at 12-32 tokens gave no reason to move the threshold. docs/quantization.md
 *   has the details; `variant: 'gemv'` forces it at any M.
 * - `subgroup-matrix`: f16 tensor cores with f32 accumulation; A and B rounded to f16 as their slices are
 *   copied into workgroup memory (a quantized B is decoded there word-wise, then rounded). Picked for
 *   f16, bf16, q8, q4 and nf4 weights when M, N, K >= 16 and the device offers f16 -> f32 subgroup
 *   matrices, unless `precision: 'f32'`.
 * - `tiled128` / `tiled64`: workgroup-memory tiles in f32, 8x8 outputs per invocation; real GPUs.
 * - `reg4x4`: 4x4 outputs per invocation, no workgroup memory; software adapters (lavapipe) and thin shapes
 *   other than gemv's (dX = dY W at a few tokens, 9-63 tokens without tensor cores).
 * Every family handles any M, N, K (tile edges included) and each weight view (f32, f16, packed f16, bf16,
 * q8, q4, nf4). There is no separate shader-f16 family: f16 tiles help only as tensor-core operands
 * (docs/quantization.md, "Kernels", says why for quantized weights).
 * Layouts are run-time flags, so reg4x4 and the tiled kernels compile one pipeline per family, weight view
 * and alignment (vector loads where the contiguous dimension is a multiple of 4) for all four layouts.
 *
 * ```ts
 * const rec = gpu.recorder();
 * matmul(rec, x, w, y, { M: tokens, N: out, K: hidden, transB: true }); // y = x @ w^T
 * matmul(rec, dy, w, dx, { M: tokens, N: hidden, K: out });             // dx = dy @ w
 * matmul(rec, dy, h, dB, { M: out, N: r, K: tokens, transA: true, alpha: s }); // dB = s dy^T h
 * rec.submit();
 * ```
 */
import { type DType, type Gpu, isQuantFormat, params, type Recorder, type Tensor } from '@llara/gpu';
import { weightDefines, weightView, withWeights } from '../common/weights.ts';
import regWgsl from './matmul.wgsl?raw';
import commonWgsl from './matmul-common.wgsl?raw';
import { GEMV_ENABLE, GEMV_MAX_M, GEMV_ROWS, gemvCode, gemvReduction, gemvTokenRows } from './matmul-gemv.ts';
import gemvWgsl from './matmul-gemv.wgsl?raw';
import {
  type MatmulOptions,
  maxTilesPerDispatch,
  storedShapes,
  tileChunks,
  tileGrid,
} from './matmul-options.ts';
import {
  SUBGROUP_MATRIX_TILE,
  subgroupMatrixCode,
  subgroupMatrixDefines,
  subgroupMatrixRun8,
  subgroupMatrixShape,
  subgroupMatrixTileDefines,
  subgroupMatrixTileName,
  subgroupMatrixTileProblem,
  subgroupMatrixWorkgroupSize,
} from './matmul-subgroup-matrix.ts';
import tiledWgsl from './matmul-tiled.wgsl?raw';

export type { MatmulOptions } from './matmul-options.ts';

export type MatmulFamily = 'gemv' | 'reg4x4' | 'tiled64' | 'tiled128' | 'subgroup-matrix';
const FAMILIES: readonly MatmulFamily[] = ['gemv', 'reg4x4', 'tiled64', 'tiled128', 'subgroup-matrix'];

const REG_CODE = withWeights(`${commonWgsl}\n${regWgsl}`);
const TILED_CODE = withWeights(`${commonWgsl}\n${tiledWgsl}`);
const GEMV_CODE = GEMV_ENABLE + withWeights(`${commonWgsl}\n${gemvWgsl}`);
/** reg4x4 workgroup: 8 x 8 invocations of 4 x 4 outputs. */
const REG_WG = 8;

interface Plan {
  variant: string;
  code: string;
  defines: Record<string, boolean>;
  constants?: Record<string, number>;
  tileM: number;
  tileN: number;
}

/** The kernel `matmul` runs for these options, e.g. 'reg4x4-f32-nt' or 'subgroup-matrix-16x16x16-f16-nt'. */
export function matmulVariant(gpu: Gpu, o: MatmulOptions & { bDtype: DType }): string {
  return plan(gpu, o, o.bDtype).variant;
}

/** Records C = alpha * op(A) @ op(B) + beta * C (see the top of this file for layouts). */
export function matmul(rec: Recorder, a: Tensor, b: Tensor, c: Tensor, o: MatmulOptions): void {
  recordMatmul(rec, a, b, c, o, rec.gpu.limits.maxComputeWorkgroupsPerDimension);
}

/** `matmul` with a smaller workgroups-per-dimension limit, so tests can exercise the folded grid. */
export function recordMatmul(
  rec: Recorder,
  a: Tensor,
  b: Tensor,
  c: Tensor,
  o: MatmulOptions,
  maxWorkgroupsPerDim: number,
): void {
  validate(a, b, c, o);
  if (o.M === 0 || o.N === 0) return;
  const gpu = rec.gpu;
  const pl = plan(gpu, o, b.dtype);
  const label = `matmul ${pl.variant}`;
  const pipeline = gpu.pipeline({ code: pl.code, label, defines: pl.defines, constants: pl.constants });
  const maxPerDim = Math.min(maxWorkgroupsPerDim, gpu.limits.maxComputeWorkgroupsPerDimension);
  const maxTiles = maxTilesPerDispatch(gpu.maxDispatchFlops, pl.tileM, pl.tileN, o.K);
  for (const chunk of tileChunks(Math.ceil(o.N / pl.tileN), Math.ceil(o.M / pl.tileM), maxTiles, maxPerDim)) {
    const grid = tileGrid(chunk.cols, chunk.rows, maxPerDim, label);
    rec.dispatch({
      pipeline,
      params: params([
        o.M,
        o.N,
        o.K,
        { f32: o.alpha ?? 1 },
        { f32: o.beta ?? 0 },
        grid.foldY,
        o.transA ? 1 : 0,
        o.transB ? 1 : 0,
        chunk.row0,
        chunk.col0,
      ]),
      bindings: [a, b, c],
      workgroups: grid.workgroups,
      label,
    });
  }
}

function chooseFamily(gpu: Gpu, o: MatmulOptions, bDtype: DType): MatmulFamily {
  if (o.variant !== undefined) {
    if (!(FAMILIES as readonly string[]).includes(o.variant)) {
      throw new Error(`Unknown matmul variant '${o.variant}' (expected one of ${FAMILIES.join(', ')})`);
    }
    if (o.variant === 'subgroup-matrix' && !subgroupMatrixShape(gpu)) {
      throw new Error(
        'The subgroup-matrix matmul needs f16 -> f32 subgroup matrices, which this device lacks',
      );
    }
    if (o.variant === 'gemv' && !o.transB) {
      throw new Error('The gemv matmul reads B stored [N, K] (transB); B stored [K, N] needs another family');
    }
    return o.variant as MatmulFamily;
  }
  const { M, N, K } = o;
  if (o.transB && M <= GEMV_MAX_M) return 'gemv';
  if (
    (bDtype === 'f16' || bDtype === 'bf16' || isQuantFormat(bDtype)) &&
    o.precision !== 'f32' &&
    M >= 16 &&
    N >= 16 &&
    K >= 16 &&
    subgroupMatrixShape(gpu)
  ) {
    return 'subgroup-matrix';
  }
  if (!gpu.caps.isFallbackAdapter && M >= 64 && N >= 64) {
    // 128-tiles need enough of them to fill a large GPU twice over; otherwise more, smaller workgroups.
    return Math.ceil(M / 128) * Math.ceil(N / 128) >= 256 ? 'tiled128' : 'tiled64';
  }
  return 'reg4x4';
}

function plan(gpu: Gpu, o: MatmulOptions, bDtype: DType): Plan {
  const family = chooseFamily(gpu, o, bDtype);
  const view = weightView(gpu, bDtype);
  const { ca, cb } = storedShapes(o);
  // Vector views of A and B where the contiguous dimension allows (not in reg4x4, which reads scalars;
  // gemv reads A [K, M] by column, element by element).
  const aX4 = family !== 'reg4x4' && ca % 4 === 0 && !(family === 'gemv' && o.transA);
  // Quantized weights have no flat vector view: loadB4 decodes their aligned runs word-wise.
  const bX4 = family !== 'reg4x4' && cb % 4 === 0 && !isQuantFormat(bDtype);
  const defines: Record<string, boolean> = { ...weightDefines(view), A_X4: aX4, B_X4: bX4 };
  if (view === 'f32' && bX4) {
    // B bound as array<vec4<f32>>: matmul-common.wgsl provides this view.
    defines.W_F32 = false;
    defines.W_F32X4 = true;
  }
  const layout = `${o.transA ? 't' : 'n'}${o.transB ? 't' : 'n'}`;
  const name = (f: string) => `${f}-${view}-${layout}`;
  switch (family) {
    case 'gemv': {
      const tokenRows = gemvTokenRows(o.M);
      const reduction = gemvReduction(gpu);
      return {
        variant: name(reduction === 'subgroups' ? 'gemv-subgroups' : 'gemv'),
        code: gemvCode(GEMV_CODE, tokenRows),
        defines: { ...defines, SUBGROUPS: reduction === 'subgroups', B_RUN8: subgroupMatrixRun8(bDtype) },
        tileM: tokenRows,
        tileN: GEMV_ROWS,
      };
    }
    case 'reg4x4':
      return {
        variant: name('reg4x4'),
        code: REG_CODE,
        defines,
        constants: { WG_X: REG_WG, WG_Y: REG_WG },
        tileM: 4 * REG_WG,
        tileN: 4 * REG_WG,
      };
    case 'tiled64':
    case 'tiled128': {
      const tile = family === 'tiled128' ? 128 : 64;
      return {
        variant: name(family),
        code: TILED_CODE,
        defines: { ...defines, TILE128: tile === 128 },
        tileM: tile,
        tileN: tile,
      };
    }
    case 'subgroup-matrix': {
      const s = subgroupMatrixShape(gpu)!;
      const tile = o.smTile ?? SUBGROUP_MATRIX_TILE;
      const problem = subgroupMatrixTileProblem(tile, s, gpu.limits, gpu.caps.subgroupSizes!.max);
      if (problem) throw new Error(`matmul: ${problem}`);
      // A tile asked for by name is named; the default keeps the short name logs and benchmarks use.
      const tileName = o.smTile ? `-${subgroupMatrixTileName(tile)}` : '';
      return {
        variant: name(`subgroup-matrix-${s.M}x${s.N}x${s.K}${tileName}`),
        code: subgroupMatrixCode(tile),
        // Matrix-load majorness is compile-time: the layout is a define here (a uniform elsewhere).
        defines: {
          ...defines,
          ...subgroupMatrixDefines(s),
          ...subgroupMatrixTileDefines(tile),
          TRANS_A: !!o.transA,
          TRANS_B: !!o.transB,
          B_RUN8: subgroupMatrixRun8(bDtype),
        },
        constants: { WG: subgroupMatrixWorkgroupSize(gpu, tile.WM * tile.WN) },
        tileM: tile.BM,
        tileN: tile.BN,
      };
    }
  }
}

function validate(a: Tensor, b: Tensor, c: Tensor, o: MatmulOptions): void {
  const { M, N, K } = o;
  for (const [k, v] of [
    ['M', M],
    ['N', N],
    ['K', K],
  ] as const) {
    if (!Number.isInteger(v) || v < 0)
      throw new Error(`matmul: ${k} must be a non-negative integer, got ${v}`);
  }
  if (a.dtype !== 'f32') throw new Error(`matmul: A must be f32, got ${a.dtype} (${a})`);
  if (c.dtype !== 'f32') throw new Error(`matmul: C must be f32, got ${c.dtype} (${c})`);
  if (!['f32', 'f16', 'bf16', 'q8', 'q4', 'nf4'].includes(b.dtype)) {
    throw new Error(`matmul: B must be f32, f16, bf16, q8, q4 or nf4, got ${b.dtype} (${b})`);
  }
  if (isQuantFormat(b.dtype)) {
    // A quantized weight is [rows, cols] with blocks along cols: the product must read it as stored.
    const { rb, cb } = storedShapes(o);
    if (b.shape.length !== 2 || b.shape[0] < rb || b.shape[1] !== cb)
      throw new Error(
        `matmul: the ${b.dtype} weight ${b} is not the stored B [${rb}, ${cb}] of this product`,
      );
  }
  if (o.beta !== undefined && o.beta !== 0 && o.beta !== 1)
    throw new Error(`matmul: beta must be 0 or 1, got ${o.beta}`);
  const need = (t: Tensor, n: number, what: string) => {
    if (t.size < n) throw new Error(`matmul: ${what} ${t} holds ${t.size} elements but ${n} are needed`);
  };
  need(a, M * K, o.transA ? 'A [K,M]' : 'A [M,K]');
  if (!isQuantFormat(b.dtype)) need(b, K * N, o.transB ? 'B [N,K]' : 'B [K,N]');
  need(c, M * N, 'C [M,N]');
}
