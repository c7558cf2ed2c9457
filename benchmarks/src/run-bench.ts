/**
 * Every benchmark suite on one device, as one `BenchResult` (what `device-main bench` writes), plus the
 * PyTorch plan of the same suites (what `device-main plan` writes for torch_bench.py).
 *
 * ```ts
 * const result = await runBench(gpu, { smoke: true, suites: ['kernels', 'model'], command: 'test' });
 * ```
 */
import type { Gpu } from '@llara/gpu';
import { benchMeta } from './bench-meta.ts';
import { benchSearch } from './index-search.bench.ts';
import { benchKernels, kernelPlan } from './kernels.bench.ts';
import { benchModel, modelPlan } from './model.bench.ts';
import type { PeerRow } from './peers/peer.ts';
import { benchPeers } from './peers/peers.bench.ts';
import { createTfjsPeer } from './peers/tfjs.ts';
import { type BenchResult, type BenchRow, errorMessage, type Failure, type Suite } from './rows.ts';
import type { TorchSpec } from './torch-plan.ts';

/**
 * What `runBench` can run: the row suites, and `peers` (the kernels shared with TensorFlow.js's WebGPU
 * backend, each run by ours and then by it on this device; rows in `BenchResult.peers`).
 */
export type RunSuite = Suite | 'peers';

export const SUITES: readonly RunSuite[] = ['kernels', 'model', 'search', 'peers'];

export interface RunBenchOptions {
  smoke: boolean;
  /** Kernel and model suites on the shapes that fit one accelerator call (see `kernelShapes`). */
  quick?: boolean;
  suites: readonly RunSuite[];
  /** The command line, for the report. */
  command: string;
  /** Per-suite time budgets in ms (defaults: each suite's own). */
  budgetMs?: Partial<Record<RunSuite, number>>;
  /** Called after every row or failure with the result so far (incremental JSON). */
  onProgress?: (result: BenchResult, last: BenchRow | Failure) => void;
  /** Called after every peer comparison with the result so far. */
  onPeer?: (result: BenchResult, last: PeerRow) => void;
  log?: (line: string) => void;
}

/** The search benchmark's rows (index-search.bench.ts) in the common row format. */
async function searchSuite(gpu: Gpu, smoke: boolean): Promise<BenchRow[]> {
  const iterations = smoke ? 2 : 5;
  const rows = await benchSearch(gpu, { smoke, iterations });
  return rows.map((r) => ({
    suite: 'search',
    key: `index_search|${r.shape}|q${r.queries}|${r.name === 'index_search_gpu' ? 'gpu' : 'exact'}`,
    name: r.name,
    variant: r.name === 'index_search_gpu' ? 'GPU scores + GPU top-k' : 'GPU top-k + exact CPU re-rank',
    shape: `${r.shape} ${r.dtype}, k ${r.k}, ${r.queries} queries`,
    dtype: r.dtype,
    ms: r.ms,
    iterations,
    timing: 'wall',
    gflops: null,
    gbps: r.gbps,
    roofline: 'hbm',
    fraction: r.hbm_fraction,
    queriesPerS: r.queries_per_s,
    torch: [`index_search|${r.shape}|q${r.queries}`],
  }));
}

/** TensorFlow.js's WebGPU backend beside our kernels, on this device (see peers/peers.bench.ts). */
async function peersSuite(
  gpu: Gpu,
  o: RunBenchOptions,
  result: BenchResult,
  add: (r: BenchRow | Failure) => void,
): Promise<void> {
  const peer = await createTfjsPeer(gpu);
  result.peers ??= [];
  const peers = result.peers;
  try {
    await benchPeers(gpu, [peer], {
      size: o.smoke ? 'smoke' : o.quick ? 'quick' : 'full',
      // The kernel suite's smoke repetitions: the 1024^3 GEMM takes seconds per call on lavapipe.
      ...(o.smoke ? { warmup: 1, iterations: 5 } : {}),
      budgetMs: o.budgetMs?.peers,
      onResult: (r) => {
        if ('peer' in r) {
          peers.push(r);
          o.onPeer?.(result, r);
        } else add(r);
      },
    });
  } finally {
    peer.dispose();
  }
}

export async function runBench(gpu: Gpu, o: RunBenchOptions): Promise<BenchResult> {
  const result: BenchResult = { meta: benchMeta(gpu, o.smoke, o.command), rows: [], failures: [] };
  const add = (r: BenchRow | Failure) => {
    if ('ms' in r) result.rows.push(r);
    else result.failures.push(r);
    o.onProgress?.(result, r);
  };
  for (const suite of o.suites) {
    o.log?.(`suite ${suite}`);
    try {
      if (suite === 'kernels')
        await benchKernels(gpu, {
          smoke: o.smoke,
          quick: o.quick,
          budgetMs: o.budgetMs?.kernels,
          onResult: add,
        });
      else if (suite === 'model')
        await benchModel(gpu, {
          smoke: o.smoke,
          quick: o.quick,
          budgetMs: o.budgetMs?.model,
          onResult: add,
          log: o.log,
        });
      else if (suite === 'peers') await peersSuite(gpu, o, result, add);
      else for (const row of await searchSuite(gpu, o.smoke)) add(row);
    } catch (e) {
      const rowSuite = suite === 'peers' ? 'kernels' : suite;
      add({ suite: rowSuite, key: `${suite}|*`, error: `the ${suite} suite stopped: ${errorMessage(e)}` });
    }
  }
  return result;
}

/** The PyTorch specs of the given suites (search has its own script, torch_search_bench.py). */
export function torchPlan(smoke: boolean, suites: readonly Suite[], quick = false): TorchSpec[] {
  return [
    ...(suites.includes('kernels') ? kernelPlan(smoke, quick) : []),
    ...(suites.includes('model') ? modelPlan(smoke, quick) : []),
  ];
}
