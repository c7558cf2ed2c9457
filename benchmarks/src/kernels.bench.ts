/**
 * Per-kernel benchmarks at LLaMA-2-7B shapes (hidden 4096, intermediate 11008, 32 heads of 128, vocab
 * 32016 with LLaRA's 16 added tokens; 512..4096 tokens per step): achieved GFLOP/s (matmul, attention)
 * or GB/s of minimal memory traffic (everything else) and the fraction of the device's roofline, the
 * median of GPU-timestamped repetitions after warm-up. Every matmul variant the device offers is run on
 * the same operands (f32 weights: reg4x4, tiled64, tiled128; f16 weights: the same plus the f16
 * subgroup-matrix kernel), and both attention variants; last, `matmul_tile` rows time the subgroup-matrix
 * kernel with each candidate workgroup tile. `smoke` uses tiny shapes (lavapipe, CI).
 *
 * ```ts
 * const { rows, failures } = await benchKernels(gpu, { smoke: true });
 * ```
 */
import { f32ToF16Bits, type Gpu, type Recorder, type Tensor } from '@llara/gpu';
import {
  type AttentionVariant,
  adamw,
  add,
  attentionBackward,
  attentionBackwardSubgroupMatrixShape,
  attentionForward,
  attentionSubgroupMatrixShape,
  bowLoss,
  crossEntropy,
  describeAttention,
  matmul,
  matmulVariant,
  paddedCausalMask,
  rmsnorm,
  rmsnormBackward,
  rmsnormVariant,
  rope,
  SUBGROUP_MATRIX_TILES,
  type SubgroupMatrixTile,
  subgroupMatrixShape,
  subgroupMatrixTileName,
  swiglu,
  swigluBackward,
  uploadMask,
} from '@llara/kernels';
import {
  QUANT_BENCH_DTYPES,
  quantMatmulOperands,
  quantMatmulRuns,
  quantMatmulShapes,
} from './quant-matmul.bench.ts';
import { randomF16Bits, randomF32, randomIds } from './random-data.ts';
import { devicePeaks, type Roofline, rooflineFraction } from './roofline.ts';
import { type BenchRow, errorMessage, type Failure, median } from './rows.ts';
import { timeRecorded } from './timing.ts';
import {
  attentionTorchKey,
  matmulTorchKey,
  simpleTorchKey,
  type TorchDType,
  type TorchSpec,
} from './torch-plan.ts';

export interface KernelBenchOptions {
  smoke?: boolean;
  /** LLaMA-2-7B shapes, but only a 2048-token step's (and 4096^3): one accelerator call (`kernelShapes`). */
  quick?: boolean;
  /** Untimed repetitions first (default 2; 1 in smoke mode). */
  warmup?: number;
  /** Timed repetitions; the median is reported (default 5; 3 in smoke mode). */
  iterations?: number;
  /** Wall-clock budget for the suite; configurations past it are recorded as skipped (default 300 s). */
  budgetMs?: number;
  /** Only kernels whose name starts with one of these (e.g. ['matmul', 'attention']). */
  only?: string[];
  /** Matmul families to run (default all: reg4x4, tiled64, tiled128, subgroup-matrix). */
  matmulFamilies?: readonly string[];
  /** Attention variants to run (default every one the device has). */
  attentionVariants?: readonly AttentionVariant[];
  /** Called with each row or failure as it is measured (progress, incremental JSON). */
  onResult?: (r: BenchRow | Failure) => void;
}

/** The `name` of every row the suite can produce (what the `only` prefixes select from). */
export const KERNEL_NAMES = [
  'matmul',
  'attention_forward',
  'attention_backward',
  'rmsnorm',
  'rmsnorm_backward',
  'rope',
  'swiglu',
  'swiglu_backward',
  'cross_entropy',
  'bow_loss',
  'adamw',
  'dispatch_overhead',
  'matmul_tile',
  'matmul_quant',
] as const;

type MatmulLayout = 'nt' | 'nn' | 'tn';

/** The shapes of one run: full LLaMA-2-7B sizes, or tiny ones for smoke runs. */
export interface KernelShapes {
  matmul: { M: number; N: number; K: number; layout: MatmulLayout; what: string }[];
  attention: { B: number; T: number; H: number; KV: number; D: number }[];
  /** Tokens per step for the per-token kernels. */
  tokens: number[];
  hidden: number;
  intermediate: number;
  heads: number;
  headDim: number;
  vocab: number;
  crossEntropyRows: number[];
  /** Groups (2 tasks x batch) of 8 read-out rows each for the bag-of-words loss. */
  bowGroups: number[];
  bowTargets: number;
  /** AdamW sizes: LoRA r=64 on all 7 projections, one layer and all layers. */
  adamw: number[];
}

/** LoRA r=64 on q,k,v,o (4096 -> 4096) and gate, up, down (4096 <-> 11008): values per layer. */
const LORA_7B_PER_LAYER = 64 * (4 * (4096 + 4096) + 3 * (4096 + 11008));

export function kernelShapes(smoke: boolean, quick = false): KernelShapes {
  if (smoke) {
    return {
      matmul: [
        { M: 64, N: 96, K: 64, layout: 'nt', what: 'projection' },
        { M: 33, N: 65, K: 70, layout: 'nt', what: 'off-tile projection' },
        { M: 64, N: 64, K: 96, layout: 'nn', what: 'input gradient' },
        { M: 8, N: 64, K: 64, layout: 'tn', what: 'LoRA gradient' },
      ],
      // The tiny model's attention shape (model.bench.ts), so a smoke run compiles these pipelines once.
      attention: [{ B: 2, T: 32, H: 4, KV: 4, D: 16 }],
      tokens: [64],
      hidden: 64,
      intermediate: 172,
      heads: 4,
      headDim: 16,
      vocab: 528,
      crossEntropyRows: [64],
      bowGroups: [4],
      bowTargets: 20,
      adamw: [4096],
    };
  }
  const matmulShapes: KernelShapes['matmul'] = [];
  for (const T of [512, 2048, 4096]) {
    matmulShapes.push({ M: T, N: 4096, K: 4096, layout: 'nt', what: 'q/k/v/o projection' });
    matmulShapes.push({ M: T, N: 11008, K: 4096, layout: 'nt', what: 'gate/up projection' });
    matmulShapes.push({ M: T, N: 4096, K: 11008, layout: 'nt', what: 'down projection' });
  }
  matmulShapes.push({
    M: 256,
    N: 32016,
    K: 4096,
    layout: 'nt',
    what: 'LM head on 16 groups x 8 read-out rows',
  });
  matmulShapes.push({ M: 2048, N: 4096, K: 11008, layout: 'nn', what: 'input gradient of down' });
  matmulShapes.push({ M: 64, N: 4096, K: 2048, layout: 'tn', what: 'LoRA A gradient (r 64, 2048 tokens)' });
  const full: KernelShapes = {
    matmul: matmulShapes,
    attention: [
      { B: 1, T: 512, H: 32, KV: 32, D: 128 },
      { B: 8, T: 512, H: 32, KV: 32, D: 128 },
      { B: 1, T: 2048, H: 32, KV: 32, D: 128 },
      { B: 2, T: 2048, H: 32, KV: 32, D: 128 },
    ],
    tokens: [512, 2048, 4096],
    hidden: 4096,
    intermediate: 11008,
    heads: 32,
    headDim: 128,
    vocab: 32016,
    crossEntropyRows: [1024, 4096],
    bowGroups: [4, 16],
    bowTargets: 200,
    adamw: [LORA_7B_PER_LAYER, 32 * LORA_7B_PER_LAYER],
  };
  if (!quick) return full;
  // One shape per question: a 2048-token step's projections and gradients, 4096^3 (the GEMM target),
  // the LM head; attention at the longest and the widest batch; each memory-bound kernel once.
  return {
    ...full,
    matmul: full.matmul.filter((m) => m.M !== 512 && (m.M !== 4096 || (m.N === 4096 && m.K === 4096))),
    attention: full.attention.filter((a) => (a.B === 1 && a.T === 2048) || (a.B === 8 && a.T === 512)),
    tokens: [2048],
    crossEntropyRows: [4096],
    bowGroups: [16],
    adamw: [32 * LORA_7B_PER_LAYER],
  };
}

const F32_FAMILIES = ['reg4x4', 'tiled64', 'tiled128'] as const;
const F16_FAMILIES = ['reg4x4', 'tiled64', 'tiled128', 'subgroup-matrix'] as const;

function matmulShape(m: { M: number; N: number; K: number }): string {
  return `M${m.M}xN${m.N}xK${m.K}`;
}

function attentionShape(a: { B: number; T: number; H: number; KV: number; D: number }): string {
  return `B${a.B}xH${a.H}xKV${a.KV}xT${a.T}xD${a.D}`;
}

/** Query-key pairs a causal mask lets through, per (sequence, head). */
function causalPairs(T: number): number {
  return (T * (T + 1)) / 2;
}

/** The PyTorch specs of a kernel run, for `device-main plan` (independent of the device). */
export function kernelPlan(smoke: boolean, quick = false): TorchSpec[] {
  const s = kernelShapes(smoke, quick);
  const out: TorchSpec[] = [];
  for (const m of s.matmul) {
    const dtypes: TorchDType[] = m.layout === 'tn' ? ['fp32'] : ['fp32', 'fp16'];
    for (const dtype of dtypes)
      out.push({
        key: matmulTorchKey(m.M, m.N, m.K, m.layout, dtype),
        op: 'matmul',
        dtype,
        M: m.M,
        N: m.N,
        K: m.K,
        layout: m.layout,
      });
  }
  for (const a of s.attention)
    for (const pass of ['forward', 'backward'] as const)
      for (const dtype of ['fp32', 'fp16'] as const)
        out.push({ key: attentionTorchKey(pass, a, dtype), op: `attention_${pass}`, dtype, ...a });
  for (const T of s.tokens) {
    const rs = `T${T}xD${s.hidden}`;
    out.push({ key: simpleTorchKey('rmsnorm', rs, 'fp32'), op: 'rmsnorm', dtype: 'fp32', T, D: s.hidden });
    out.push({
      key: simpleTorchKey('rmsnorm_backward', rs, 'fp32'),
      op: 'rmsnorm_backward',
      dtype: 'fp32',
      T,
      D: s.hidden,
    });
    const ro = `T${T}xH${s.heads}xD${s.headDim}`;
    out.push({
      key: simpleTorchKey('rope', ro, 'fp32'),
      op: 'rope',
      dtype: 'fp32',
      T,
      H: s.heads,
      D: s.headDim,
    });
    const sw = `T${T}xI${s.intermediate}`;
    out.push({
      key: simpleTorchKey('swiglu', sw, 'fp32'),
      op: 'swiglu',
      dtype: 'fp32',
      T,
      I: s.intermediate,
    });
    out.push({
      key: simpleTorchKey('swiglu_backward', sw, 'fp32'),
      op: 'swiglu_backward',
      dtype: 'fp32',
      T,
      I: s.intermediate,
    });
  }
  for (const R of s.crossEntropyRows)
    out.push({
      key: simpleTorchKey('cross_entropy', `R${R}xV${s.vocab}`, 'fp32'),
      op: 'cross_entropy',
      dtype: 'fp32',
      R,
      V: s.vocab,
    });
  for (const G of s.bowGroups)
    out.push({
      key: simpleTorchKey('bow_loss', `G${G}xP8xV${s.vocab}`, 'fp32'),
      op: 'bow_loss',
      dtype: 'fp32',
      G,
      P: 8,
      V: s.vocab,
      targets: s.bowTargets,
    });
  for (const N of s.adamw)
    out.push({ key: simpleTorchKey('adamw', `N${N}`, 'fp32'), op: 'adamw', dtype: 'fp32', N });
  return out;
}

interface Measure {
  name: string;
  key: string;
  variant: string;
  shape: string;
  dtype: string;
  roofline: Roofline;
  flops?: number;
  bytes?: number;
  torch: string[];
  note?: string;
}

/** Runs the kernel suite; see the file comment. */
export async function benchKernels(
  gpu: Gpu,
  opts: KernelBenchOptions = {},
): Promise<{ rows: BenchRow[]; failures: Failure[] }> {
  const smoke = opts.smoke ?? false;
  const timing = { warmup: opts.warmup ?? (smoke ? 1 : 2), iterations: opts.iterations ?? (smoke ? 3 : 5) };
  const deadline = performance.now() + (opts.budgetMs ?? 300_000);
  const device = gpu.caps.adapter.device || gpu.caps.adapter.description || 'unknown';
  const peaks = devicePeaks(device);
  const s = kernelShapes(smoke, opts.quick);
  const rows: BenchRow[] = [];
  const failures: Failure[] = [];
  const wanted = (name: string) => !opts.only || opts.only.some((p) => name.startsWith(p));
  const fail = (key: string, error: string) => {
    const f: Failure = { suite: 'kernels', key, error };
    failures.push(f);
    opts.onResult?.(f);
  };

  const measure = async (m: Measure, record: (rec: Recorder) => void): Promise<void> => {
    if (performance.now() > deadline)
      return fail(m.key, 'skipped: the kernel suite ran out of its time budget');
    try {
      const t = await timeRecorded(gpu, record, timing);
      const gflops = m.flops ? m.flops / (t.ms * 1e6) : null;
      const gbps = m.bytes ? m.bytes / (t.ms * 1e6) : null;
      const achieved = gflops ?? gbps ?? 0;
      const row: BenchRow = {
        suite: 'kernels',
        key: m.key,
        name: m.name,
        variant: m.variant,
        shape: m.shape,
        dtype: m.dtype,
        ms: t.ms,
        iterations: t.samples.length,
        timing: t.timing,
        gflops,
        gbps,
        roofline: m.roofline,
        fraction: rooflineFraction(achieved, m.roofline, peaks),
        torch: m.torch,
        ...(m.note ? { note: m.note } : {}),
      };
      rows.push(row);
      opts.onResult?.(row);
    } catch (e) {
      fail(m.key, errorMessage(e));
    }
  };

  /** Allocates a group's operands, runs its measurements, then frees everything (even on failure). */
  const group = async (keys: string[], body: (t: (x: Tensor) => Tensor) => Promise<void>) => {
    if (performance.now() > deadline) {
      for (const k of keys) fail(k, 'skipped: the kernel suite ran out of its time budget');
      return;
    }
    const held: Tensor[] = [];
    try {
      await body((x) => {
        held.push(x);
        return x;
      });
    } catch (e) {
      for (const k of keys)
        if (!rows.some((r) => r.key === k) && !failures.some((f) => f.key === k)) fail(k, errorMessage(e));
    } finally {
      for (const x of held) x.release();
      gpu.pool.trim();
      await gpu.sync().catch(() => {});
    }
  };

  let seed = 1;
  if (wanted('matmul')) {
    for (const m of s.matmul) {
      const shape = matmulShape(m);
      const transA = m.layout === 'tn';
      const transB = m.layout === 'nt';
      const weightDtypes = m.layout === 'tn' ? (['f32'] as const) : (['f32', 'f16'] as const);
      for (const bd of weightDtypes) {
        const families = (bd === 'f32' ? F32_FAMILIES : F16_FAMILIES).filter(
          (f) => !opts.matmulFamilies || opts.matmulFamilies.includes(f),
        );
        const dtype = bd === 'f32' ? 'f32' : 'f16w';
        const keyOf = (f: string) => `matmul|${shape}|${m.layout}|${dtype}|${f}`;
        await group(families.map(keyOf), async (t) => {
          const a = t(gpu.tensor('f32', transA ? [m.K, m.M] : [m.M, m.K], randomF32(m.M * m.K, seed++)));
          const bShape = transB ? [m.N, m.K] : [m.K, m.N];
          const b = t(
            bd === 'f32'
              ? gpu.tensor('f32', bShape, randomF32(m.N * m.K, seed++))
              : gpu.tensor('f16', bShape, randomF16Bits(m.N * m.K, seed++)),
          );
          const c = t(gpu.tensor('f32', [m.M, m.N]));
          for (const family of families) {
            const o = { M: m.M, N: m.N, K: m.K, transA, transB, variant: family };
            let variant: string;
            try {
              variant = matmulVariant(gpu, { ...o, bDtype: bd });
            } catch (e) {
              const msg = errorMessage(e);
              fail(
                keyOf(family),
                /subgroup matri/i.test(msg) ? 'skipped: device lacks subgroup matrices' : msg,
              );
              continue;
            }
            const tensorCores = family === 'subgroup-matrix';
            await measure(
              {
                name: 'matmul',
                key: keyOf(family),
                variant,
                shape,
                dtype,
                roofline: tensorCores ? 'fp16-tensor' : 'fp32',
                flops: 2 * m.M * m.N * m.K,
                torch: [matmulTorchKey(m.M, m.N, m.K, m.layout, tensorCores ? 'fp16' : 'fp32')],
                note: m.what,
              },
              (rec) => matmul(rec, a, b, c, o),
            );
          }
        });
      }
    }
  }

  if (wanted('attention')) {
    const available: AttentionVariant[] = gpu.has('subgroups') ? ['plain', 'subgroups'] : ['plain'];
    const variants = available.filter((v) => !opts.attentionVariants || opts.attentionVariants.includes(v));
    for (const a of s.attention) {
      const shape = attentionShape(a);
      const keyOf = (pass: string, v: string) => `attention_${pass}|${shape}|causal|f32|${v}`;
      const keys = variants.flatMap((v) => [keyOf('forward', v), keyOf('backward', v)]);
      // The f16 tensor-core forward (inference's attention where the device has subgroup matrices).
      const tcKey = `attention_forward|${shape}|causal|f16|subgroup-matrix`;
      const tcBackKey = `attention_backward|${shape}|causal|f16|subgroup-matrix`;
      const tensorCores = !opts.attentionVariants && attentionSubgroupMatrixShape(gpu, a.D) !== null;
      const tensorCoresBack = tensorCores && attentionBackwardSubgroupMatrixShape(gpu, a.D) !== null;
      if (!opts.attentionVariants && !tensorCores) fail(tcKey, 'skipped: device lacks subgroup matrices');
      if (!opts.attentionVariants && !tensorCoresBack)
        fail(tcBackKey, 'skipped: device lacks subgroup matrices');
      if (tensorCores) keys.push(tcKey);
      if (tensorCoresBack) keys.push(tcBackKey);
      await group(keys, async (t) => {
        const rowsN = a.B * a.T;
        const qn = rowsN * a.H * a.D;
        const kn = rowsN * a.KV * a.D;
        const q = t(gpu.tensor('f32', [rowsN, a.H * a.D], randomF32(qn, seed++)));
        const k = t(gpu.tensor('f32', [rowsN, a.KV * a.D], randomF32(kn, seed++)));
        const v = t(gpu.tensor('f32', [rowsN, a.KV * a.D], randomF32(kn, seed++)));
        const dOut = t(gpu.tensor('f32', [rowsN, a.H * a.D], randomF32(qn, seed++)));
        const out = t(gpu.tensor('f32', [rowsN, a.H * a.D]));
        const lse = t(gpu.tensor('f32', [a.H, rowsN]));
        const dq = t(gpu.tensor('f32', [rowsN, a.H * a.D]));
        const dk = t(gpu.tensor('f32', [rowsN, a.KV * a.D]));
        const dv = t(gpu.tensor('f32', [rowsN, a.KV * a.D]));
        const mask = uploadMask(gpu, paddedCausalMask(a.T, new Array(a.B).fill(a.T), 'right'));
        t(mask.table);
        const fwdFlops = 4 * a.B * a.H * a.D * causalPairs(a.T);
        for (const variant of variants) {
          const o = { numHeads: a.H, numKvHeads: a.KV, headDim: a.D, variant };
          const note = describeAttention(gpu, o);
          await measure(
            {
              name: 'attention_forward',
              key: keyOf('forward', variant),
              variant,
              shape,
              dtype: 'f32',
              roofline: 'fp32',
              flops: fwdFlops,
              torch: (['fp32', 'fp16'] as const).map((d) => attentionTorchKey('forward', a, d)),
              note,
            },
            (rec) => attentionForward(rec, q, k, v, out, lse, mask, o),
          );
          // Backward reads the forward's out and lse: compute them once with this variant.
          const rec = gpu.recorder();
          attentionForward(rec, q, k, v, out, lse, mask, o);
          rec.submit();
          await measure(
            {
              name: 'attention_backward',
              key: keyOf('backward', variant),
              variant,
              shape,
              dtype: 'f32',
              roofline: 'fp32',
              // FlashAttention's convention: backward = 2.5 x forward (5 T x T products instead of 2).
              flops: 2.5 * fwdFlops,
              torch: (['fp32', 'fp16'] as const).map((d) => attentionTorchKey('backward', a, d)),
              note,
            },
            (r) => attentionBackward(r, q, k, v, out, dOut, lse, dq, dk, dv, mask, o),
          );
        }
        if (tensorCores) {
          const o = { numHeads: a.H, numKvHeads: a.KV, headDim: a.D };
          await measure(
            {
              name: 'attention_forward',
              key: tcKey,
              variant: 'subgroup-matrix',
              shape,
              dtype: 'f16',
              roofline: 'fp16-tensor',
              // Model flops (the kernel computes q.k twice: its two passes do 1.5x this).
              flops: fwdFlops,
              torch: (['fp16'] as const).map((d) => attentionTorchKey('forward', a, d)),
              note: describeAttention(gpu, o),
            },
            (rec) => attentionForward(rec, q, k, v, out, lse, mask, o),
          );
          if (tensorCoresBack) {
            // Its own forward's out and lse, as training on tensor cores would pair them.
            const rec = gpu.recorder();
            attentionForward(rec, q, k, v, out, lse, mask, o);
            rec.submit();
            await measure(
              {
                name: 'attention_backward',
                key: tcBackKey,
                variant: 'subgroup-matrix',
                shape,
                dtype: 'f16',
                roofline: 'fp16-tensor',
                flops: 2.5 * fwdFlops,
                torch: (['fp16'] as const).map((d) => attentionTorchKey('backward', a, d)),
                note: 'f16 subgroup-matrix backward (dOut scaled per kv head)',
              },
              (r) => attentionBackward(r, q, k, v, out, dOut, lse, dq, dk, dv, mask, o),
            );
          }
        }
      });
    }
  }

  const H = s.hidden;
  for (const T of s.tokens) {
    if (wanted('rmsnorm')) {
      const shape = `T${T}xD${H}`;
      const keys = [`rmsnorm|${shape}|f32`, `rmsnorm_backward|${shape}|f32`];
      await group(keys, async (t) => {
        const x = t(gpu.tensor('f32', [T, H], randomF32(T * H, seed++)));
        const w = t(gpu.tensor('f16', [H], new Uint16Array(H).fill(f32ToF16Bits(1))));
        const y = t(gpu.tensor('f32', [T, H]));
        const dy = t(gpu.tensor('f32', [T, H], randomF32(T * H, seed++)));
        const dx = t(gpu.tensor('f32', [T, H]));
        const variant = rmsnormVariant(gpu);
        await measure(
          {
            name: 'rmsnorm',
            key: keys[0],
            variant,
            shape,
            dtype: 'f32 (f16 weight)',
            roofline: 'hbm',
            bytes: 2 * T * H * 4 + H * 2,
            torch: [simpleTorchKey('rmsnorm', shape, 'fp32')],
          },
          (rec) => rmsnorm(rec, x, w, y, 1e-5),
        );
        await measure(
          {
            name: 'rmsnorm_backward',
            key: keys[1],
            variant,
            shape,
            dtype: 'f32 (f16 weight)',
            roofline: 'hbm',
            bytes: 3 * T * H * 4 + H * 2,
            torch: [simpleTorchKey('rmsnorm_backward', shape, 'fp32')],
          },
          (rec) => rmsnormBackward(rec, x, w, dy, dx, 1e-5),
        );
      });
    }
    if (wanted('rope')) {
      const shape = `T${T}xH${s.heads}xD${s.headDim}`;
      const key = `rope|${shape}|f32`;
      await group([key], async (t) => {
        const n = T * s.heads * s.headDim;
        const x = t(gpu.tensor('f32', [T, s.heads * s.headDim], randomF32(n, seed++)));
        const positions = t(
          gpu.tensor(
            'i32',
            [T],
            Int32Array.from({ length: T }, (_, i) => i),
          ),
        );
        await measure(
          {
            name: 'rope',
            key,
            variant: 'in-place',
            shape,
            dtype: 'f32',
            roofline: 'hbm',
            bytes: 2 * n * 4 + T * 4,
            torch: [simpleTorchKey('rope', shape, 'fp32')],
          },
          (rec) => rope(rec, x, positions, { numHeads: s.heads, headDim: s.headDim, theta: 10000 }),
        );
      });
    }
    if (wanted('swiglu')) {
      const I = s.intermediate;
      const shape = `T${T}xI${I}`;
      const keys = [`swiglu|${shape}|f32`, `swiglu_backward|${shape}|f32`];
      await group(keys, async (t) => {
        const n = T * I;
        const gate = t(gpu.tensor('f32', [T, I], randomF32(n, seed++)));
        const up = t(gpu.tensor('f32', [T, I], randomF32(n, seed++)));
        const out = t(gpu.tensor('f32', [T, I]));
        const dOut = t(gpu.tensor('f32', [T, I], randomF32(n, seed++)));
        const dGate = t(gpu.tensor('f32', [T, I]));
        const dUp = t(gpu.tensor('f32', [T, I]));
        await measure(
          {
            name: 'swiglu',
            key: keys[0],
            variant: 'elementwise',
            shape,
            dtype: 'f32',
            roofline: 'hbm',
            bytes: 3 * n * 4,
            torch: [simpleTorchKey('swiglu', shape, 'fp32')],
          },
          (rec) => swiglu(rec, gate, up, out),
        );
        await measure(
          {
            name: 'swiglu_backward',
            key: keys[1],
            variant: 'elementwise',
            shape,
            dtype: 'f32',
            roofline: 'hbm',
            bytes: 5 * n * 4,
            torch: [simpleTorchKey('swiglu_backward', shape, 'fp32')],
          },
          (rec) => swigluBackward(rec, gate, up, dOut, dGate, dUp),
        );
      });
    }
  }

  const V = s.vocab;
  if (wanted('cross_entropy')) {
    for (const R of s.crossEntropyRows) {
      const shape = `R${R}xV${V}`;
      const key = `cross_entropy|${shape}|f32`;
      await group([key], async (t) => {
        const logits = t(gpu.tensor('f32', [R, V], randomF32(R * V, seed++, -4, 4)));
        const labels = t(gpu.tensor('i32', [R], randomIds(R, seed++, 3, V)));
        const loss = t(gpu.tensor('f32', [R]));
        const dLogits = t(gpu.tensor('f32', [R, V]));
        await measure(
          {
            name: 'cross_entropy',
            key,
            variant: 'loss+grad',
            shape,
            dtype: 'f32',
            roofline: 'hbm',
            bytes: 2 * R * V * 4 + 2 * R * 4,
            torch: [simpleTorchKey('cross_entropy', shape, 'fp32')],
          },
          (rec) => crossEntropy(rec, logits, labels, loss, dLogits, { rows: R, vocab: V, weight: 1 / R }),
        );
      });
    }
  }
  if (wanted('bow_loss')) {
    for (const G of s.bowGroups) {
      const P = 8;
      const shape = `G${G}xP${P}xV${V}`;
      const key = `bow_loss|${shape}|f32`;
      await group([key], async (t) => {
        const logits = t(gpu.tensor('f32', [G * P, V], randomF32(G * P * V, seed++, -4, 4)));
        const offsets = Int32Array.from({ length: G + 1 }, (_, g) => g * s.bowTargets);
        const off = t(gpu.tensor('i32', [G + 1], offsets));
        const ids = t(gpu.tensor('i32', [G * s.bowTargets], randomIds(G * s.bowTargets, seed++, 3, V)));
        const weights = t(gpu.tensor('f32', [G], new Float32Array(G).fill(1 / (10 * G))));
        const loss = t(gpu.tensor('f32', [G]));
        const dLogits = t(gpu.tensor('f32', [G * P, V]));
        await measure(
          {
            name: 'bow_loss',
            key,
            variant: 'max-pool+loss+grad',
            shape,
            dtype: 'f32',
            roofline: 'hbm',
            bytes: 2 * G * P * V * 4,
            torch: [simpleTorchKey('bow_loss', shape, 'fp32')],
          },
          (rec) =>
            bowLoss(rec, logits, off, ids, weights, loss, dLogits, { groups: G, positions: P, vocab: V }),
        );
      });
    }
  }
  if (wanted('adamw')) {
    for (const N of s.adamw) {
      const shape = `N${N}`;
      const key = `adamw|${shape}|f32`;
      await group([key], async (t) => {
        const p = t(gpu.tensor('f32', [N], randomF32(N, seed++)));
        const g = t(gpu.tensor('f32', [N], randomF32(N, seed++, -1e-3, 1e-3)));
        const m = t(gpu.zeros('f32', [N]));
        const v = t(gpu.zeros('f32', [N]));
        await measure(
          {
            name: 'adamw',
            key,
            variant: 'fused step',
            shape,
            dtype: 'f32',
            roofline: 'hbm',
            bytes: 7 * N * 4,
            torch: [simpleTorchKey('adamw', shape, 'fp32')],
          },
          (rec) =>
            adamw(rec, p, g, m, v, {
              lr: 1e-4,
              beta1: 0.9,
              beta2: 0.999,
              eps: 1e-8,
              weightDecay: 0,
              step: 1,
            }),
        );
      });
    }
  }
  if (wanted('matmul_quant')) await quantMatmuls();
  if (wanted('dispatch_overhead')) await dispatchOverhead();
  if (wanted('matmul_tile')) await sweepTiles();
  return { rows, failures };

  /**
   * Host CPU time to record and submit one dispatch, in the steady state of a run (the same sequence
   * again: pipelines and bind groups cached): 50 submits of 10 tiny matmul + add pairs, GPU work
   * negligible. Times the embedding rows' dispatch counts, it bounds how fast a small batch can go.
   */
  async function dispatchOverhead() {
    const key = 'dispatch_overhead|50x20|host';
    await group([key], async (t) => {
      const a = t(gpu.tensor('f32', [16, 16], randomF32(256, seed++)));
      const b = t(gpu.tensor('f32', [16, 16], randomF32(256, seed++)));
      const c = t(gpu.tensor('f32', [16, 16]));
      const round = async () => {
        let ms = 0;
        for (let i = 0; i < 50; i++) {
          const t0 = performance.now();
          const rec = gpu.recorder();
          for (let j = 0; j < 10; j++) {
            matmul(rec, a, b, c, { M: 16, N: 16, K: 16, transB: true });
            add(rec, a, b, c);
          }
          rec.submit();
          ms += performance.now() - t0;
        }
        await gpu.sync();
        return ms / 1000;
      };
      for (let w = 0; w < timing.warmup; w++) await round();
      const samples: number[] = [];
      for (let i = 0; i < timing.iterations; i++) samples.push(await round());
      const ms = median(samples);
      const row: BenchRow = {
        suite: 'kernels',
        key,
        name: 'dispatch_overhead',
        variant: 'record + submit, pipelines and bind groups cached',
        shape: '50 submits x 20 dispatches',
        dtype: 'f32',
        ms,
        iterations: samples.length,
        timing: 'wall',
        gflops: null,
        gbps: null,
        dispatchesPerS: 1000 / ms,
        roofline: null,
        fraction: null,
        torch: [],
        note: 'host CPU time per dispatch (ms); the GPU work is negligible',
      };
      rows.push(row);
      opts.onResult?.(row);
    });
  }

  /**
   * `matmul_quant` rows (quant-matmul.bench.ts): f16 beside q8 / q4 / nf4 weights, each with the kernel
   * `matmul` picks and, beside tensor cores, the f32 one; beside gemv (1 and 8 tokens), reg4x4.
   */
  async function quantMatmuls() {
    for (const m of quantMatmulShapes(smoke, opts.quick)) {
      const shape = matmulShape(m);
      const runs = QUANT_BENCH_DTYPES.map((d) => ({ d, runs: quantMatmulRuns(gpu, m, d) }));
      const keyOf = (d: string, suffix: string) => `matmul_quant|${shape}|${m.layout}|${d}${suffix}`;
      await group(
        runs.flatMap(({ d, runs }) => runs.map((r) => keyOf(d, r.keySuffix))),
        async (t) => {
          const ops = quantMatmulOperands(gpu, m, seed++, t);
          const gemv = m.M <= 8;
          for (const { d, runs: dRuns } of runs)
            for (const run of dRuns)
              await measure(
                {
                  name: 'matmul_quant',
                  key: keyOf(d, run.keySuffix),
                  variant: run.variant,
                  shape,
                  dtype: d === 'f16' ? 'f16w' : `${d}w`,
                  roofline: gemv ? 'hbm' : run.variant.startsWith('subgroup-matrix') ? 'fp16-tensor' : 'fp32',
                  ...(gemv ? { bytes: ops.bytes(d) } : { flops: 2 * m.M * m.N * m.K }),
                  torch: [],
                  note: m.what,
                },
                (rec) => ops.record(rec, d, run.precision, run.family),
              );
        },
      );
    }
  }

  /**
   * The subgroup-matrix matmul with every candidate workgroup tile (`SUBGROUP_MATRIX_TILES`) on the
   * projection shapes of a 2048-token step, 4096^3 and the LM head: which tile to make the default.
   * Last in the suite, so a tight budget drops it before any regular row.
   */
  async function sweepTiles() {
    const shapes = s.matmul.filter(
      (m) => m.layout !== 'tn' && (smoke || m.M === 2048 || m.M === 256 || m.K === m.M),
    );
    for (const m of shapes) {
      const shape = matmulShape(m);
      const keyOf = (tile: SubgroupMatrixTile) =>
        `matmul_tile|${shape}|${m.layout}|f16w|${subgroupMatrixTileName(tile)}`;
      const keys = SUBGROUP_MATRIX_TILES.map(keyOf);
      if (!subgroupMatrixShape(gpu)) {
        for (const k of keys) fail(k, 'skipped: device lacks subgroup matrices');
        continue;
      }
      const transB = m.layout === 'nt';
      await group(keys, async (t) => {
        const a = t(gpu.tensor('f32', [m.M, m.K], randomF32(m.M * m.K, seed++)));
        const b = t(gpu.tensor('f16', transB ? [m.N, m.K] : [m.K, m.N], randomF16Bits(m.N * m.K, seed++)));
        const c = t(gpu.tensor('f32', [m.M, m.N]));
        for (const tile of SUBGROUP_MATRIX_TILES) {
          const o = { M: m.M, N: m.N, K: m.K, transB, variant: 'subgroup-matrix', smTile: tile };
          let variant: string;
          try {
            variant = matmulVariant(gpu, { ...o, bDtype: 'f16' });
          } catch (e) {
            fail(keyOf(tile), `skipped: ${errorMessage(e)}`);
            continue;
          }
          await measure(
            {
              name: 'matmul_tile',
              key: keyOf(tile),
              variant,
              shape,
              dtype: 'f16w',
              roofline: 'fp16-tensor',
              flops: 2 * m.M * m.N * m.K,
              torch: [matmulTorchKey(m.M, m.N, m.K, m.layout, 'fp16')],
              note: `${m.what}, tile ${subgroupMatrixTileName(tile)}`,
            },
            (rec) => matmul(rec, a, b, c, o),
          );
        }
      });
    }
  }
}
