/**
 * What every benchmark produces: one `BenchRow` per measured configuration, and a `Failure` for each
 * configuration that could not run (so one broken variant never hides the others). The same shapes go
 * to JSON (`device-main bench --json`) and to the markdown report.
 *
 * Keys: `key` names a row uniquely (`matmul|M2048xN4096xK4096|nt|f16w|subgroup-matrix-16x16x16`);
 * `torch` lists the keys of the PyTorch measurements it is compared with (written by
 * `benchmarks/gpu/torch_bench.py` from the `plan` the same code emits), e.g.
 * `matmul|M2048xN4096xK4096|nt|fp16`.
 */
import type { PeerRow } from './peers/peer.ts';
import type { Roofline } from './roofline.ts';

export type Suite = 'kernels' | 'model' | 'search';

export interface MemoryUse {
  /** Base model weights on the device. */
  weightsBytes: number;
  /** LoRA matrices and their gradients (training only). */
  trainableBytes: number;
  /** AdamW moments (training only). */
  optimizerBytes: number;
  /** Largest sum of live pooled buffers (activations, temporaries) during the measurement. */
  poolPeakInUseBytes: number;
  /** Bytes the buffer pool holds (in use + free for reuse) at the end of the measurement. */
  poolAllocatedBytes: number;
  /** weights + trainable + optimizer + pool allocated: what the device had to hold. */
  totalBytes: number;
}

export interface BenchRow {
  suite: Suite;
  key: string;
  /** Benchmark name: `matmul`, `attention_forward`, `embed`, `train_pretext`, ... */
  name: string;
  /** Kernel variant or model path actually run (e.g. `tiled128-f16-nt`). */
  variant: string;
  /** Human-readable shape (`M2048xN4096xK4096`, `B8xT512`). */
  shape: string;
  /** Data types: `f32`, `f16w` (f16 weights, f32 activations), ... */
  dtype: string;
  /** Median time of one call, milliseconds. */
  ms: number;
  /** Timed repetitions behind the median. */
  iterations: number;
  /** GPU timestamps around each dispatch, or wall clock around submit + wait. */
  timing: 'gpu-timestamps' | 'wall';
  /** Achieved GFLOP/s (compute-bound rows). */
  gflops: number | null;
  /** Achieved GB/s of minimal traffic (memory-bound rows). */
  gbps: number | null;
  roofline: Roofline | null;
  /** Achieved / the device's peak on `roofline`; null when the device is unknown. */
  fraction: number | null;
  /** End-to-end rows: tokens per second. */
  tokensPerS?: number;
  /** Search rows: queries per second. */
  queriesPerS?: number;
  /** Host-overhead rows: dispatches recorded and submitted per second of CPU time. */
  dispatchesPerS?: number;
  memory?: MemoryUse;
  /** Keys of the PyTorch rows to compare with (see the file comment). */
  torch: string[];
  /** Free-form facts worth keeping (e.g. which attention tiling ran). */
  note?: string;
}

export interface Failure {
  suite: Suite;
  key: string;
  /** One sentence: why the configuration did not run ("skipped: ..." for deliberate skips). */
  error: string;
}

export interface BenchMeta {
  date: string;
  device: string;
  /** The adapter's vendor and architecture (GPUAdapterInfo), as the web page header shows them. */
  vendor?: string;
  architecture?: string;
  backend: string;
  isFallbackAdapter: boolean;
  smoke: boolean;
  command: string;
  /** Node's version (`v20.19.0`), or 'none' in a browser. */
  node: string;
  /** The browser's user agent, when the suite ran in a page. */
  browser?: string;
  /** Datasheet row the fractions use, or null on unknown devices. */
  peaks: string | null;
}

export interface BenchResult {
  meta: BenchMeta;
  rows: BenchRow[];
  failures: Failure[];
  /** Peer twins (TensorFlow.js, ONNX Runtime Web) of the shared kernels, when they ran. */
  peers?: PeerRow[];
}

/**
 * Problems with a row (empty when it is well-formed): positive finite times, finite non-negative
 * throughputs, fractions in (0, 10], keys present. Used by the smoke test and before writing a report.
 */
export function rowProblems(r: BenchRow): string[] {
  const out: string[] = [];
  const finitePositive = (v: number | null | undefined, what: string, optional = true) => {
    if (v === null || v === undefined) {
      if (!optional) out.push(`${what} is missing`);
      return;
    }
    if (!(Number.isFinite(v) && v > 0)) out.push(`${what} is ${v}, not a positive finite number`);
  };
  if (!r.key || !r.name || !r.shape) out.push('key, name or shape is empty');
  finitePositive(r.ms, 'ms', false);
  if (!(Number.isInteger(r.iterations) && r.iterations >= 1)) out.push(`iterations is ${r.iterations}`);
  finitePositive(r.gflops, 'gflops');
  finitePositive(r.gbps, 'gbps');
  finitePositive(r.tokensPerS, 'tokensPerS');
  finitePositive(r.queriesPerS, 'queriesPerS');
  finitePositive(r.dispatchesPerS, 'dispatchesPerS');
  if (
    r.gflops === null &&
    r.gbps === null &&
    r.tokensPerS === undefined &&
    r.queriesPerS === undefined &&
    r.dispatchesPerS === undefined
  )
    out.push('no throughput (gflops, gbps, tokensPerS, queriesPerS or dispatchesPerS)');
  if (r.fraction !== null && !(r.fraction > 0 && r.fraction <= 10))
    out.push(`fraction ${r.fraction} is outside (0, 10]`);
  if (r.memory) {
    for (const [k, v] of Object.entries(r.memory))
      if (!(Number.isFinite(v) && v >= 0)) out.push(`memory.${k} is ${v}`);
    if (r.memory.totalBytes <= 0) out.push('memory.totalBytes is not positive');
  }
  return out;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of no values');
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** One sentence from any thrown value. */
export function errorMessage(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].slice(0, 500);
}
