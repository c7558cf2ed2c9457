/**
 * Quantizing while a checkpoint loads, on every core (Node only): the rows of each matrix are split
 * over worker threads that run quantize-rows.ts's `quantizeRows` (its source text, so the bundled CLI,
 * the built packages and the TypeScript sources under vitest all start the same workers). The words
 * are the same bits as on one thread: each row is quantized on its own, the threads only divide them.
 *
 * ```ts
 * const pool = createQuantizePool();               // one thread per core
 * try {
 *   const model = await uploadModel(gpu, config, checkpoint, { quantize: 'nf4', quantizeTensor: pool.quantize });
 * } finally {
 *   await pool.close();
 * }
 * ```
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type QuantFormat, quantRowWords } from '@llara/gpu';
import {
  type QuantizeJob,
  type QuantizePool,
  quantizeWorkerSource,
  rowChunks,
  SMALL_MATRIX,
} from './quantize-jobs.ts';
import { quantizableShape, quantizeRawTensor } from './quantize-tensor.ts';

export type { QuantizePool };

/** Threads by default: LLARA_QUANTIZE_THREADS when set (1: the calling thread only), else one per core. */
export function defaultQuantizeThreads(): number {
  const env = Number(process.env.LLARA_QUANTIZE_THREADS);
  return Number.isInteger(env) && env > 0 ? env : availableParallelism();
}

/**
 * A pool of `threads` workers (default: `defaultQuantizeThreads()`; 0 or 1: no workers, the calling
 * thread). Threads are started on first use and do not keep the process alive.
 */
export function createQuantizePool(threads = defaultQuantizeThreads()): QuantizePool {
  const n = Math.max(0, Math.floor(threads));
  if (n <= 1)
    return {
      threads: 0,
      quantize: async (raw, format, what) => quantizeRawTensor(raw, format, what),
      close: async () => {},
    };
  const workers: Worker[] = [];
  const idle: Worker[] = [];
  const waiting: { job: QuantizeJob; done: (err: string | null) => void; fail: (e: Error) => void }[] = [];
  const running = new Map<number, { done: (err: string | null) => void; fail: (e: Error) => void }>();
  let nextId = 0;
  let closed = false;

  const start = (): void => {
    for (let i = 0; i < n; i++) {
      const w = new Worker(quantizeWorkerSource('node'), { eval: true });
      w.unref();
      w.on('message', (m: { id: number; err: string | null }) => {
        const r = running.get(m.id);
        running.delete(m.id);
        w.unref();
        idle.push(w);
        pump();
        r?.done(m.err);
      });
      w.on('error', (e) => {
        for (const r of running.values()) r.fail(e);
        running.clear();
      });
      workers.push(w);
      idle.push(w);
    }
  };
  const pump = (): void => {
    while (idle.length > 0 && waiting.length > 0) {
      const w = idle.pop()!;
      const { job, done, fail } = waiting.shift()!;
      running.set(job.id, { done, fail });
      // A busy thread keeps the process alive (the caller awaits it); an idle one does not.
      w.ref();
      w.postMessage(job);
    }
  };
  const run = (job: Omit<QuantizeJob, 'id'>): Promise<string | null> =>
    new Promise((done, fail) => {
      waiting.push({ job: { ...job, id: nextId++ }, done, fail });
      pump();
    });

  // Shared staging for one tensor's bytes and words, grown to the largest and reused: a fresh
  // SharedArrayBuffer per tensor pays its page faults every time (on a small VM more than the
  // quantizing itself), a reused one once. One tensor uses it at a time (`busy`).
  let srcStage = new SharedArrayBuffer(0);
  let outStage = new SharedArrayBuffer(0);
  let busy: Promise<void> = Promise.resolve();

  /** Quantizes the staged tensor on the threads; its words as an ordinary (unshared) array. */
  const spread = async (
    dtype: QuantizeJob['dtype'],
    format: QuantFormat,
    what: string,
    rows: number,
    cols: number,
    rw: number,
  ): Promise<Uint32Array> => {
    const jobs = rowChunks(rows, n).map(([row0, count]) =>
      run({ format, dtype, src: srcStage, row0, rows: count, cols, out: outStage, outWord: row0 * rw }),
    );
    const errors = (await Promise.all(jobs)).filter((e): e is string => e !== null);
    if (errors.length > 0) throw new Error(`${what} ${errors[0]}.`);
    // An ordinary copy for the device upload (some writeBuffer paths refuse shared memory, and the
    // staging is overwritten by the next tensor).
    return new Uint32Array(outStage, 0, rows * rw).slice();
  };

  return {
    threads: n,
    async quantize(raw, format, what) {
      if (closed) throw new Error('The quantize pool is closed.');
      const [rows, cols] = quantizableShape(raw, format, what);
      if (rows * cols < SMALL_MATRIX) return quantizeRawTensor(raw, format, what);
      if (workers.length === 0) start();
      const rw = quantRowWords(format, cols);
      const previous = busy;
      let release = () => {};
      busy = new Promise<void>((r) => {
        release = r;
      });
      await previous;
      try {
        if (srcStage.byteLength < raw.data.byteLength) srcStage = new SharedArrayBuffer(raw.data.byteLength);
        if (outStage.byteLength < rows * rw * 4) outStage = new SharedArrayBuffer(rows * rw * 4);
        new Uint8Array(srcStage, 0, raw.data.byteLength).set(raw.data);
        return await spread(raw.dtype as QuantizeJob['dtype'], format, what, rows, cols, rw);
      } finally {
        release();
      }
    },
    async close() {
      closed = true;
      await Promise.all(workers.map((w) => w.terminate()));
      workers.length = 0;
      idle.length = 0;
      srcStage = new SharedArrayBuffer(0);
      outStage = new SharedArrayBuffer(0);
    },
  };
}
