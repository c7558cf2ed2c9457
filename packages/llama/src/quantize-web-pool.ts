/**
 * Quantizing while a checkpoint loads in the browser, on every core: the rows of each matrix are split
 * over Web Workers started from a Blob URL of quantize-rows.ts's `quantizeRows` source (the same code
 * as on the calling thread and in Node's pool, so the words are the same bits; each row is quantized on
 * its own, the workers only divide them). Works from a page or from a dedicated worker (nested
 * workers). On a cross-origin-isolated page the bytes are shared (SharedArrayBuffer); elsewhere each
 * job gets a transferred copy of its rows and transfers its words back.
 *
 * ```ts
 * const pool = createWebQuantizePool();           // navigator.hardwareConcurrency workers, at most 8
 * try {
 *   const model = await uploadModel(gpu, config, checkpoint, { quantize: 'nf4', quantizeTensor: pool.quantize });
 * } finally {
 *   await pool.close();
 * }
 * ```
 */
import { type QuantFormat, quantRowWords } from '@llara/gpu';
import {
  type QuantizeJob,
  type QuantizePool,
  type QuantizeReply,
  quantizeWorkerSource,
  rowChunks,
  SMALL_MATRIX,
} from './quantize-jobs.ts';
import { quantizableShape, quantizeRawTensor } from './quantize-tensor.ts';
import type { RawTensor } from './safetensors.ts';

export interface WebQuantizePoolOptions {
  /** Workers (default: navigator.hardwareConcurrency, at most 8; 0 or 1: the calling thread). */
  workers?: number;
  /** Matrices with fewer values stay on the calling thread (default 2^18; tests lower it). */
  small?: number;
}

/** The default worker count: one per logical core the browser reports, at most 8. */
export function defaultWebQuantizeWorkers(): number {
  const cores = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency : 0;
  return Math.min(8, Number.isInteger(cores) && cores > 0 ? cores : 1);
}

/** A browser quantize pool; workers start on first use, and only as many as a matrix's chunks need. */
export function createWebQuantizePool(options: WebQuantizePoolOptions = {}): QuantizePool {
  const n = Math.max(0, Math.floor(options.workers ?? defaultWebQuantizeWorkers()));
  const small = options.small ?? SMALL_MATRIX;
  if (n <= 1 || typeof Worker === 'undefined')
    return {
      threads: 0,
      quantize: async (raw, format, what) => quantizeRawTensor(raw, format, what),
      close: async () => {},
    };
  // Shared memory needs a cross-origin-isolated context (COOP/COEP headers); the demo's servers do not
  // send them, so there the rows travel as transferred copies.
  const shared = globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer !== 'undefined';
  let url: string | null = null;
  const workers: Worker[] = [];
  const idle: Worker[] = [];
  type Pending = { done: (r: QuantizeReply) => void; fail: (e: Error) => void };
  const waiting: { job: QuantizeJob; transfer: ArrayBuffer[]; pending: Pending }[] = [];
  const running = new Map<Worker, { id: number; pending: Pending }>();
  let nextId = 0;
  let closed = false;
  // Transferred buffers come back with the reply and are reused: fresh ones pay their page faults
  // on every matrix (on a small VM that costs about as much as quantizing).
  const spare: ArrayBuffer[] = [];
  const take = (bytes: number): ArrayBuffer => {
    let best = -1;
    for (let i = 0; i < spare.length; i++)
      if (spare[i].byteLength >= bytes && (best < 0 || spare[i].byteLength < spare[best].byteLength))
        best = i;
    return best < 0 ? new ArrayBuffer(bytes) : spare.splice(best, 1)[0];
  };
  // Set when a worker fails to start or dies: from then on the calling thread quantizes.
  let broken = false;

  const failAll = (e: Error): void => {
    for (const r of running.values()) r.pending.fail(e);
    running.clear();
    for (const w of waiting) w.pending.fail(e);
    waiting.length = 0;
  };
  /** Ends every worker, failing what they were doing with `e`. */
  const stop = (e: Error): void => {
    broken = true;
    failAll(e);
    for (const w of workers) w.terminate();
    workers.length = 0;
    idle.length = 0;
    spare.length = 0;
    if (url) URL.revokeObjectURL(url);
    url = null;
  };
  const startWorker = (): void => {
    url ??= URL.createObjectURL(new Blob([quantizeWorkerSource('web')], { type: 'text/javascript' }));
    const w = new Worker(url);
    w.onmessage = (e: MessageEvent<QuantizeReply>) => {
      const r = running.get(w);
      running.delete(w);
      idle.push(w);
      pump();
      r?.pending.done(e.data);
    };
    w.onerror = (e) => {
      e.preventDefault();
      stop(new Error(`A quantize worker failed: ${e.message || 'it could not start'}.`));
    };
    workers.push(w);
    idle.push(w);
  };
  const pump = (): void => {
    while (idle.length > 0 && waiting.length > 0) {
      const w = idle.pop()!;
      const { job, transfer, pending } = waiting.shift()!;
      running.set(w, { id: job.id, pending });
      w.postMessage(job, transfer);
    }
  };
  const run = (job: Omit<QuantizeJob, 'id'>, transfer: ArrayBuffer[]): Promise<QuantizeReply> =>
    new Promise((done, fail) => {
      waiting.push({ job: { ...job, id: nextId++ }, transfer, pending: { done, fail } });
      pump();
    });

  return {
    threads: n,
    async quantize(raw: RawTensor, format: QuantFormat, what: string) {
      if (closed) throw new Error('The quantize pool is closed.');
      const [rows, cols] = quantizableShape(raw, format, what);
      if (rows * cols < small) return quantizeRawTensor(raw, format, what);
      const dtype = raw.dtype as QuantizeJob['dtype'];
      const rw = quantRowWords(format, cols);
      const rowBytes = cols * (dtype === 'F32' ? 4 : 2);
      const chunks = rowChunks(rows, n);
      if (broken) return quantizeRawTensor(raw, format, what);
      const out = new Uint32Array(rows * rw);
      let replies: QuantizeReply[];
      let sharedOut: SharedArrayBuffer | null = null;
      try {
        // Fewer workers for a matrix with fewer chunks than workers.
        while (workers.length < Math.min(n, chunks.length)) startWorker();
        let jobs: Promise<QuantizeReply>[];
        if (shared) {
          const src = new SharedArrayBuffer(rows * rowBytes);
          new Uint8Array(src).set(raw.data.subarray(0, rows * rowBytes));
          const outBuf = new SharedArrayBuffer(out.byteLength);
          sharedOut = outBuf;
          jobs = chunks.map(([row0, count]) =>
            run({ format, dtype, src, row0, rows: count, cols, out: outBuf, outWord: row0 * rw }, []),
          );
        } else {
          jobs = chunks.map(([row0, count]) => {
            // Buffers may be longer than the chunk: the worker reads and writes only its rows.
            const src = take(count * rowBytes);
            new Uint8Array(src).set(raw.data.subarray(row0 * rowBytes, (row0 + count) * rowBytes));
            const dst = take(count * rw * 4);
            return run({ format, dtype, src, row0: 0, rows: count, cols, out: dst, outWord: 0 }, [
              src,
              dst,
            ]).then((r) => {
              if (r.err === null && r.out) out.set(new Uint32Array(r.out, 0, count * rw), row0 * rw);
              if (r.out) spare.push(r.out);
              if (r.src) spare.push(r.src);
              // The slice's rows are numbered from 0: name the matrix's row instead.
              const err = r.err?.replace(/^row (\d+)/, (_, i: string) => `row ${row0 + Number(i)}`) ?? null;
              return { ...r, err };
            });
          });
        }
        replies = await Promise.all(jobs);
      } catch (e) {
        if (closed) throw e;
        // Workers that cannot start (say a Content-Security-Policy without blob: workers) or that
        // died: this matrix and the rest on the calling thread, rather than a failed load.
        stop(e as Error);
        return quantizeRawTensor(raw, format, what);
      }
      const failed = replies.find((r) => r.err !== null);
      if (failed) throw new Error(`${what} ${failed.err}.`);
      if (sharedOut) out.set(new Uint32Array(sharedOut));
      return out;
    },
    async close() {
      closed = true;
      stop(new Error('The quantize pool is closed.'));
    },
  };
}
