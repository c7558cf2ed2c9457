/**
 * The part of the benchmarks that runs in a web page (no Node APIs): the WGSL kernel suite and the
 * report it renders, as `apps/web`'s bench.html uses them.
 *
 * ```ts
 * const gpu = await requestBrowserGpu();
 * const { rows, failures } = await benchKernels(gpu, { smoke: true });
 * const md = renderReport({ webgpu: [{ meta: benchMeta(gpu, true, 'bench.html'), rows, failures }], torch: [] });
 * ```
 */
export { benchMeta } from './bench-meta.ts';
export { benchKernels, type KernelBenchOptions } from './kernels.bench.ts';
export { renderReport } from './report.ts';
export { type BenchMeta, type BenchResult, type BenchRow, type Failure, rowProblems } from './rows.ts';
