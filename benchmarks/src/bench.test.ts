/**
 * The benchmark suites in smoke mode on whatever adapter is present (lavapipe on CI), so they cannot
 * rot: every kernel and end-to-end row is produced, well-formed (positive finite times and rates),
 * names PyTorch twins that the plan for torch_bench.py contains, and renders into the report.
 */
import type { Gpu } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { subgroupMatrixShape } from '@llara/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchMeta } from './bench-meta.ts';
import { runChecks } from './checks.ts';
import { benchIndexChoice, formatIndexChoice } from './index-choice.bench.ts';
import { benchKernels, KERNEL_NAMES, kernelPlan, kernelShapes } from './kernels.bench.ts';
import { benchModel, modelPlan, modelPlanShapes } from './model.bench.ts';
import { quantMatmulRuns, quantMatmulShapes } from './quant-matmul.bench.ts';
import { renderReport } from './report.ts';
import { type BenchRow, rowProblems } from './rows.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await requestNodeGpu({ dawnOptions: ['disable-dawn-features=timestamp_quantization'] });
});
afterAll(() => gpu?.destroy());

const KERNELS = [
  'adamw',
  'attention_backward',
  'attention_forward',
  'bow_loss',
  'cross_entropy',
  'dispatch_overhead',
  'matmul',
  'matmul_quant',
  'rmsnorm',
  'rmsnorm_backward',
  'rope',
  'swiglu',
  'swiglu_backward',
];

describe('kernel benchmarks (smoke)', () => {
  it('measure every kernel with well-formed rows whose PyTorch twins are planned', async () => {
    // One matmul family and the device's default attention variant keep the test short (shader
    // compilation dominates on lavapipe); device-main runs them all.
    const { rows, failures } = await benchKernels(gpu, {
      smoke: true,
      matmulFamilies: ['reg4x4', 'subgroup-matrix'],
      attentionVariants: [gpu.has('subgroups') ? 'subgroups' : 'plain'],
      warmup: 1,
      iterations: 2,
    });
    for (const r of rows) expect(rowProblems(r), r.key).toEqual([]);
    expect([...new Set(rows.map((r) => r.name))].sort()).toEqual(KERNELS);
    // The names the bench page's kernel filter offers are the names rows carry.
    for (const k of KERNELS) expect(KERNEL_NAMES, k).toContain(k);
    // Only deliberate skips (a variant the device lacks) may be missing.
    expect(failures.filter((f) => !f.error.startsWith('skipped:'))).toEqual([]);
    expect(new Set(rows.map((r) => r.key)).size).toBe(rows.length);
    const planned = new Set(kernelPlan(true).map((s) => s.key));
    for (const r of rows) for (const k of r.torch) expect(planned.has(k), k).toBe(true);
    const matmuls = rows.filter((r) => r.name === 'matmul');
    expect(matmuls.every((r) => r.gflops !== null && r.roofline !== 'hbm')).toBe(true);
    expect(rows.filter((r) => r.roofline === 'hbm').every((r) => r.gbps !== null)).toBe(true);
  });
});

describe('matmul_quant rows', () => {
  it('time the f32 kernel beside tensor cores where a device has them, reg4x4 beside gemv, and only the picked one elsewhere', () => {
    // As far as kernel selection looks: f16 -> f32 16x16x16 subgroup matrices, subgroups of 32.
    const tensorCores = {
      has: (f: string) => ['subgroup-matrix', 'shader-f16', 'subgroups'].includes(f),
      caps: {
        isFallbackAdapter: false,
        subgroupSizes: { min: 32, max: 32 },
        subgroupMatrixConfigs: [{ componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 }],
      },
      limits: { maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024 },
    } as unknown as Gpu;
    const shapes = quantMatmulShapes(false, true);
    const big = shapes.find((m) => m.M === 2048 && m.layout === 'nt')!;
    const grad = shapes.find((m) => m.layout === 'nn')!;
    expect(quantMatmulRuns(tensorCores, big, 'q4').map((r) => [r.keySuffix, r.variant])).toEqual([
      ['', 'subgroup-matrix-16x16x16-q4-nt'],
      ['|f32', 'tiled128-q4-nt'],
    ]);
    expect(quantMatmulRuns(tensorCores, grad, 'nf4').map((r) => r.variant)).toEqual([
      'subgroup-matrix-16x16x16-nf4-nn',
      'tiled128-nf4-nn',
    ]);
    // A batch of 1: gemv, with reg4x4 (what such batches ran before gemv) beside it.
    expect(quantMatmulRuns(tensorCores, shapes[0], 'q8').map((r) => [r.keySuffix, r.variant])).toEqual([
      ['', 'gemv-subgroups-q8-nt'],
      ['|reg4x4', 'reg4x4-q8-nt'],
    ]);
    expect(quantMatmulRuns(gpu, big, 'q4')).toHaveLength(subgroupMatrixShape(gpu) ? 2 : 1);
  });
});

describe('end-to-end benchmarks (smoke)', () => {
  it('embed and train a tiny random model with well-formed rows and memory accounting', async () => {
    const { rows, failures } = await benchModel(gpu, { smoke: true });
    expect(failures).toEqual([]);
    for (const r of rows) expect(rowProblems(r), r.key).toEqual([]);
    const embed = rows.filter((r) => r.name === 'embed');
    const train = rows.filter((r) => r.name === 'train_pretext');
    expect(embed.length).toBeGreaterThanOrEqual(2);
    // The first training shape in f32, then with f16 (tensor-core) attention, then f16 input gradients.
    expect(train.map((r) => r.key.split('|').at(-1))).toEqual(['f16w', 'f16w+f16attn', 'f16w+f16dx']);
    for (const r of rows) {
      expect(r.tokensPerS).toBeGreaterThan(0);
      expect(r.memory!.weightsBytes).toBeGreaterThan(0);
      expect(r.memory!.poolPeakInUseBytes).toBeGreaterThan(0);
    }
    // Training holds LoRA weights, gradients and AdamW moments; embedding holds none.
    expect(train[0].memory!.trainableBytes).toBeGreaterThan(0);
    expect(train[0].memory!.optimizerBytes).toBe(train[0].memory!.trainableBytes);
    expect(embed.every((r) => r.memory!.trainableBytes === 0)).toBe(true);
    const planned = new Set(modelPlan(true).map((s) => s.key));
    for (const r of rows) for (const k of r.torch) expect(planned.has(k), k).toBe(true);
    // GradCache holds one chunk's activations instead of the whole batch's.
    const [plain, cached] = ['plain', 'gradcache'].map((way) =>
      rows.find((r) => r.name === 'train_contrastive' && r.key.split('|').at(-1)!.startsWith(way)),
    );
    expect(cached!.memory!.poolPeakInUseBytes).toBeLessThan(plain!.memory!.poolPeakInUseBytes);
  });
});

describe('device checks (smoke)', () => {
  it('run every group with nothing failing, and say when tensor cores were not there to check', async () => {
    const checks = await runChecks(gpu, { smoke: true });
    const bad = checks.filter((c) => c.status === 'fail' || c.status === 'error');
    expect(bad.map((c) => `${c.name}: ${c.detail}`)).toEqual([]);
    for (const group of ['matmul', 'attention', 'model', 'training'])
      expect(
        checks.some((c) => c.name.startsWith(group)),
        group,
      ).toBe(true);
    // lavapipe has no subgroup matrices: each training check ran both passes, which agree exactly.
    const training = checks.filter((c) => c.name.startsWith('training '));
    expect(training.map((c) => c.name.split(' vs ')[0])).toEqual(
      expect.arrayContaining(['training f16 attention', 'training f16 input gradients']),
    );
    for (const c of training) {
      expect(c.status).toBe('skipped');
      expect(c.maxAbsError).toBe(0);
      expect(c.detail).toMatch(/both ran the f32 kernels: hidden min row cosine 1\.0+; worst/);
    }
  });
});

describe('index choice (smoke)', () => {
  it('measures every index against exact search, GPU k-means equal to CPU k-means', async () => {
    const r = await benchIndexChoice(gpu, { size: 'smoke' });
    expect(r.skipped).toEqual([]);
    expect([...new Set(r.rows.map((x) => x.index))]).toEqual([
      'FlatIndex',
      'GpuFlatIndex',
      'IvfIndex',
      'LanceStore',
      'PgVectorIndex',
    ]);
    for (const x of r.rows) {
      expect(x.build_s, x.index).toBeGreaterThan(0);
      expect(Number.isFinite(x.queries_per_s) && x.queries_per_s > 0, x.index).toBe(true);
      expect(x.recall_at_10).toBeGreaterThanOrEqual(0);
      expect(x.recall_at_10).toBeLessThanOrEqual(1);
    }
    // The exact indexes equal FlatIndex; IVF is exact when it probes every list and loses recall below.
    const exact = r.rows.filter((x) => ['FlatIndex', 'GpuFlatIndex', 'LanceStore'].includes(x.index));
    expect(exact.every((x) => x.exact && x.recall_at_10 === 1)).toBe(true);
    const ivf = r.rows.filter((x) => x.index === 'IvfIndex');
    const recalls = ivf.map((x) => x.recall_at_10);
    expect(recalls).toEqual([...recalls].sort((a, b) => a - b));
    expect(ivf.at(-1)!.exact).toBe(true);
    expect(ivf[0].recall_at_10).toBeLessThan(1);
    expect(r.rows.find((x) => x.index === 'PgVectorIndex')!.recall_at_10).toBeGreaterThan(0.5);
    expect(r.training.map((t) => [t.where, t.same_as_cpu])).toEqual([
      ['GPU', true],
      ['CPU', null],
    ]);
    const md = formatIndexChoice(r);
    expect(md.split('\n').filter((l) => l.startsWith('| IvfIndex |'))).toHaveLength(ivf.length);
  });
});

describe('quick size (one accelerator call)', () => {
  it('keeps a subset of the full 7B plan with every question still asked once', () => {
    const full = new Set([...kernelPlan(false), ...modelPlan(false)].map((s) => s.key));
    const quick = [...kernelPlan(false, true), ...modelPlan(false, true)].map((s) => s.key);
    expect(quick.every((k) => full.has(k))).toBe(true);
    expect(quick.length).toBeLessThan(0.6 * full.size);
    const shapes = kernelShapes(false, true);
    // The GEMM target (4096^3), a 2048-token step's three projections, the LM head, both gradients.
    expect(shapes.matmul.map((m) => `${m.M}x${m.N}x${m.K}${m.layout}`)).toEqual([
      '2048x4096x4096nt',
      '2048x11008x4096nt',
      '2048x4096x11008nt',
      '4096x4096x4096nt',
      '256x32016x4096nt',
      '2048x4096x11008nn',
      '64x4096x2048tn',
    ]);
    expect(shapes.attention.map((a) => `B${a.B}xT${a.T}`)).toEqual(['B8xT512', 'B1xT2048']);
    expect(modelPlanShapes(false, true).train).toEqual(modelPlanShapes(false).train);
  });
});

describe('rows and report', () => {
  const row = (ms: number): BenchRow => ({
    suite: 'kernels',
    key: 'matmul|M2xN2xK2|nt|f32|reg4x4',
    name: 'matmul',
    variant: 'reg4x4-f32-nt',
    shape: 'M2xN2xK2',
    dtype: 'f32',
    ms,
    iterations: 3,
    timing: 'gpu-timestamps',
    gflops: 16 / (ms * 1e6),
    gbps: null,
    roofline: 'fp32',
    fraction: null,
    torch: ['matmul|M2xN2xK2|nt|fp32'],
  });

  it('rowProblems rejects zero, negative and non-finite times', () => {
    expect(rowProblems(row(0.5))).toEqual([]);
    for (const ms of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(rowProblems(row(ms)).length).toBeGreaterThan(0);
  });

  it('the report puts the PyTorch time beside ours with PyTorch ms / ours as the ratio', () => {
    const meta = benchMeta(gpu, true, 'test');
    const md = renderReport({
      webgpu: [
        { meta, rows: [row(0.5)], failures: [{ suite: 'kernels', key: 'matmul|x', error: 'skipped: test' }] },
      ],
      torch: [{ meta: { gpu: 'test' }, rows: [{ key: 'matmul|M2xN2xK2|nt|fp32', ms: 2 }], failures: [] }],
    });
    const line = md.split('\n').find((l) => l.startsWith('| matmul |'));
    expect(line).toContain('fp32: 2.00 ms');
    expect(line).toContain('fp32: 4.00x');
    expect(md).toContain('smoke run');
    expect(md).toMatch(/\| matmul\\\|x +\| skipped: test +\|/);
  });
});
