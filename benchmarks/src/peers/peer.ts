/**
 * Peer twins: the same operation computed by another WebGPU library (TensorFlow.js's WebGPU backend,
 * ONNX Runtime Web's WebGPU execution provider) on the same device as ours, from the same inputs. A
 * comparison first checks the results against each other, then times both under one rule
 * (`PEER_TIMING`); a mismatch gives a failed row, never a ratio.
 *
 * ```ts
 * const peer: Peer = await createTfjsPeer(gpu);
 * const row = await comparePeer(cases[0], ours, peer, { warmup: 2, iterations: 5 });
 * ```
 */
import type { Gpu } from '@llara/gpu';

export type PeerOp = 'matmul' | 'attention' | 'rmsnorm' | 'topk';

export interface MatmulCase {
  op: 'matmul';
  M: number;
  N: number;
  K: number;
  /** 'nt': b is [N, K] (a weight as LLaMA stores it); 'nn': b is [K, N]. */
  layout: 'nt' | 'nn';
  what: string;
}

/** Causal softmax attention on q, k, v laid out [B*T, heads*D] (the model's layout). */
export interface AttentionCase {
  op: 'attention';
  B: number;
  T: number;
  H: number;
  KV: number;
  D: number;
}

export interface RmsnormCase {
  op: 'rmsnorm';
  T: number;
  D: number;
  eps: number;
}

export interface TopkCase {
  op: 'topk';
  rows: number;
  cols: number;
  k: number;
}

export type PeerCaseSpec = MatmulCase | AttentionCase | RmsnormCase | TopkCase;

/** One shared operation at one shape: what ours and each peer compute. */
export interface PeerCase {
  /** `peer|matmul|M256xN256xK256|nn|f32` (the peer's id is appended for its row). */
  key: string;
  spec: PeerCaseSpec;
  shape: string;
  dtype: 'f32';
  /** Model flops of one call (matmul, attention), for GFLOP/s. */
  flops?: number;
  /** Minimal bytes of one call (rmsnorm, topk), for GB/s. */
  bytes?: number;
}

/**
 * Host inputs of a case, row-major: matmul `a`, `b`; attention `q`, `k`, `v`; rmsnorm `x`, `w` (f16
 * values, as our kernel stores the weight); topk `scores`.
 */
export type PeerInputs = Record<string, Float32Array>;

/** One implementation of a case, ready to run on the device. */
export interface Runnable {
  /** What ran (our kernel variant, or the peer's ops). */
  describe: string;
  /** Enqueues one call and waits until the device has finished it (no readback). */
  run(): Promise<void>;
  /** The result of the last call, read back; topk returns its values (scores, best first). */
  result(): Promise<Float32Array>;
  dispose(): void;
}

export interface Peer {
  /** Short id used in keys: `tfjs`, `ort`. */
  id: string;
  /** Name and version, e.g. `TensorFlow.js WebGPU 4.22.0`. */
  name: string;
  /** Null when the peer can run the case, else why not ("skipped: ..."). */
  unsupported(c: PeerCase): string | null;
  /** Why the f16-weight matmul rows have no twin from this peer ("skipped: ..."). */
  f16Matmul(gpu: Gpu): string;
  build(c: PeerCase, inputs: PeerInputs): Promise<Runnable>;
  dispose(): void;
}

/** The one timing rule of every peer comparison, as the report states it. */
export const PEER_TIMING =
  'wall time of one call: enqueue, then wait until the device queue is idle (no readback); warm-up first, then ours and the peer alternate, median of the timed calls';

export interface PeerTimingOptions {
  warmup: number;
  iterations: number;
}

export interface PeerRow {
  key: string;
  op: PeerOp;
  shape: string;
  dtype: string;
  /** Peer id and full name. */
  peer: string;
  peerName: string;
  /** What each side ran. */
  ours: string;
  theirs: string;
  /** Median ms of ours and the peer under `PEER_TIMING` (null when the check failed). */
  oursMs: number | null;
  peerMs: number | null;
  /** Peer ms / ours ms: above 1 means ours is faster. Null unless the results agree. */
  ratio: number | null;
  /** Ours GFLOP/s or GB/s under the same rule. */
  oursRate: string | null;
  check: { maxAbsError: number; tolerance: number; pass: boolean };
  status: 'ok' | 'mismatch' | 'error';
  error?: string;
  iterations: number;
  timing: string;
}

/** Max |a - b| (NaN if either holds NaN or the lengths differ) and the largest |a|. */
export function maxAbsDiff(ours: Float32Array, theirs: Float32Array): { err: number; scale: number } {
  if (ours.length !== theirs.length) return { err: Number.NaN, scale: 0 };
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ours.length; i++) {
    const d = Math.abs(ours[i] - theirs[i]);
    if (!(d <= err)) err = d; // NaN propagates: NaN <= x is false
    const a = Math.abs(ours[i]);
    if (a > scale) scale = a;
  }
  return { err, scale };
}

/**
 * Tolerance of a comparison: f32 results of the same sums in a different order agree to about 1e-6 of
 * their largest value per term; 2e-3 of the largest value covers K up to 11008 with a wide margin, and
 * still fails any real difference (a wrong transpose, mask or scale changes values by order 1).
 */
export function peerTolerance(scale: number): number {
  return 2e-3 * Math.max(1, scale);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function wall(r: Runnable): Promise<number> {
  const t0 = performance.now();
  await r.run();
  return performance.now() - t0;
}

/**
 * Checks `theirs` against `ours` (one call each, results read back), then times both under
 * `PEER_TIMING`. Never throws: errors become a row with status 'error'.
 */
export async function comparePeer(
  c: PeerCase,
  ours: Runnable,
  peer: Peer,
  theirs: Runnable,
  o: PeerTimingOptions,
): Promise<PeerRow> {
  const row: PeerRow = {
    key: `${c.key}|${peer.id}`,
    op: c.spec.op,
    shape: c.shape,
    dtype: c.dtype,
    peer: peer.id,
    peerName: peer.name,
    ours: ours.describe,
    theirs: theirs.describe,
    oursMs: null,
    peerMs: null,
    ratio: null,
    oursRate: null,
    check: { maxAbsError: Number.NaN, tolerance: Number.NaN, pass: false },
    status: 'error',
    iterations: o.iterations,
    timing: PEER_TIMING,
  };
  try {
    await ours.run();
    await theirs.run();
    const { err, scale } = maxAbsDiff(await ours.result(), await theirs.result());
    const tolerance = peerTolerance(scale);
    row.check = { maxAbsError: err, tolerance, pass: err <= tolerance };
    if (!row.check.pass) {
      row.status = 'mismatch';
      row.error = `results differ: max abs error ${err} > tolerance ${tolerance.toExponential(2)}`;
      return row;
    }
    for (let i = 0; i < o.warmup; i++) {
      await ours.run();
      await theirs.run();
    }
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < o.iterations; i++) {
      a.push(await wall(ours));
      b.push(await wall(theirs));
    }
    row.oursMs = median(a);
    row.peerMs = median(b);
    row.ratio = row.peerMs / row.oursMs;
    if (c.flops) row.oursRate = `${(c.flops / (row.oursMs * 1e6)).toPrecision(3)} GFLOP/s`;
    else if (c.bytes) row.oursRate = `${(c.bytes / (row.oursMs * 1e6)).toPrecision(3)} GB/s`;
    row.status = 'ok';
  } catch (e) {
    row.status = 'error';
    row.error = (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300);
  }
  return row;
}
