/**
 * Exact inner-product search on the GPU (`GpuFlatIndex`): queries per second over a corpus of 1M x 4096
 * f16 vectors (LLaMA-2-7B embeddings; 8 GiB, split into binding-sized shards), and the fraction of the
 * device's memory bandwidth that reading the corpus once per query batch achieves.
 *
 * Two rows per batch size: `index_search_gpu` (matmul + top-k on the device, merged by GPU scores:
 * what the PyTorch twin `benchmarks/gpu/torch_search_bench.py` measures) and `index_search_exact` (the
 * same plus the exact CPU re-rank that makes results equal `FlatIndex`). Smoke mode uses a tiny corpus.
 *
 * ```ts
 * const rows = await benchSearch(await requestNodeGpu(), { smoke: true });
 * ```
 */
import type { Gpu } from '@llara/gpu';
import { GpuFlatIndex } from '@llara/index';
import { xorshift32 } from './random-data.ts';

export interface SearchBenchOptions {
  /** Tiny shapes, for CPU-only machines (lavapipe). */
  smoke?: boolean;
  /** Results per query (default 100). */
  k?: number;
  /** Peak memory bandwidth in GB/s; by default looked up from the adapter's name (null when unknown). */
  peakGBps?: number;
  /** Timed repetitions per batch size (default 5, 2 in smoke mode); the median is reported. */
  iterations?: number;
}

export interface SearchBenchRow {
  name: 'index_search_gpu' | 'index_search_exact';
  /** Corpus rows x dims. */
  shape: string;
  dtype: 'f16';
  /** Queries per batch. */
  queries: number;
  k: number;
  shards: number;
  /** Median wall time of one batch, milliseconds. */
  ms: number;
  queries_per_s: number;
  /** Corpus bytes read per batch / time. */
  gbps: number;
  /** `gbps` / the device's peak memory bandwidth, or null when that is unknown. */
  hbm_fraction: number | null;
  device: string;
}

/** Peak memory bandwidth (GB/s) of the GPUs this project benchmarks on, by adapter name. */
export function peakBandwidthGBps(adapterName: string): number | null {
  const name = adapterName.toUpperCase();
  if (name.includes('H200')) return 4800;
  if (name.includes('H100')) {
    if (name.includes('PCIE')) return 2000;
    if (name.includes('NVL')) return 3900;
    return 3350;
  }
  if (name.includes('A100')) return name.includes('80GB') ? 2039 : 1555;
  return null;
}

/**
 * Random f16 bit patterns with |value| < 2 (exponent bit 14 cleared), two halves per u32: building 8 GiB
 * through f32 -> f16 conversion would take minutes of JS.
 */
function randomHalves(count: number, seed: number): Uint16Array {
  const out = new Uint16Array(count + (count & 1));
  const words = new Uint32Array(out.buffer);
  const next = xorshift32(seed);
  for (let i = 0; i < words.length; i++) words[i] = next() & 0xbfffbfff;
  return count & 1 ? out.subarray(0, count) : out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function benchSearch(gpu: Gpu, opts: SearchBenchOptions = {}): Promise<SearchBenchRow[]> {
  const smoke = opts.smoke ?? false;
  const n = smoke ? 4096 : 1_000_000;
  const d = smoke ? 64 : 4096;
  const k = opts.k ?? (smoke ? 10 : 100);
  const iterations = opts.iterations ?? (smoke ? 2 : 5);
  const batches = smoke ? [1, 16] : [1, 16, 128, 1024];
  const exactBatches = smoke ? [16] : [1, 64];
  const adapter = gpu.caps.adapter;
  const device = adapter.description || adapter.device || adapter.architecture || 'unknown adapter';
  const peak = opts.peakGBps ?? peakBandwidthGBps(device);

  const index = new GpuFlatIndex(gpu, d, { dtype: 'f16', tileBytes: 1 << 30 });
  try {
    for (let start = 0, shard = 0; start < n; start += index.shardRows, shard++) {
      const rows = Math.min(index.shardRows, n - start);
      const ids = Array.from({ length: rows }, (_, i) => `d${start + i}`);
      index.addRaw(ids, randomHalves(rows * d, 1234 + shard));
    }
    const corpusBytes = n * d * 2;
    const out: SearchBenchRow[] = [];
    const measure = async (name: SearchBenchRow['name'], queries: number) => {
      const q = new Float32Array(queries * d);
      const next = xorshift32(99 + queries);
      for (let i = 0; i < q.length; i++) q[i] = next() / 2 ** 31 - 1;
      const run = () => (name === 'index_search_gpu' ? index.searchApprox(q, k) : index.search(q, k));
      await run(); // compiles pipelines and uploads the corpus on the first call
      const times: number[] = [];
      for (let i = 0; i < iterations; i++) {
        const t0 = performance.now();
        await run();
        times.push(performance.now() - t0);
      }
      const ms = median(times);
      const gbps = corpusBytes / (ms * 1e6);
      out.push({
        name,
        shape: `${n}x${d}`,
        dtype: 'f16',
        queries,
        k,
        shards: index.shardCount,
        ms,
        queries_per_s: (queries / ms) * 1e3,
        gbps,
        hbm_fraction: peak ? gbps / peak : null,
        device,
      });
    };
    for (const b of batches) await measure('index_search_gpu', b);
    for (const b of exactBatches) await measure('index_search_exact', b);
    return out;
  } finally {
    index.destroy();
  }
}

/** The rows as a markdown table. */
export function formatSearchBench(rows: readonly SearchBenchRow[]): string {
  const head = '| name | corpus | queries | k | shards | ms/batch | queries/s | GB/s | HBM fraction |';
  const lines = rows.map(
    (r) =>
      `| ${r.name} | ${r.shape} ${r.dtype} | ${r.queries} | ${r.k} | ${r.shards} | ${r.ms.toFixed(2)} | ${r.queries_per_s.toFixed(1)} | ${r.gbps.toFixed(1)} | ${r.hbm_fraction === null ? 'n/a' : r.hbm_fraction.toFixed(3)} |`,
  );
  return [head, '| --- | --- | --- | --- | --- | --- | --- | --- | --- |', ...lines].join('\n');
}
