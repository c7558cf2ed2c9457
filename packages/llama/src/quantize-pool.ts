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
import { quantizeRows } from './quantize-rows.ts';
import { quantizableShape, quantizeRawTensor } from './quantize-tensor.ts';
import type { RawTensor } from './safetensors.ts';

export interface QuantizePool {
  /** Worker threads in use (0: quantizes on the calling thread). */
  readonly threads: number;
  /** `quantizeRawTensor`, spread over the threads. */
  quantize(raw: RawTensor, format: QuantFormat, what: string): Promise<Uint32Array>;
  /** Ends the threads (pending work is abandoned). */
  close(): Promise<void>;
}

interface Job {
  id: number;
  format: QuantFormat;
  dtype: 'F32' | 'F16' | 'BF16';
  src: SharedArrayBuffer;
  row0: number;
  rows: number;
  cols: number;
  out: SharedArrayBuffer;
  outWord: number;
}

/** Matrices smaller than this many values are quantized on the calling thread (messages cost more). */
const SMALL = 1 << 18;

function workerSource(): string {
  // `__name` covers bundlers that wrap inner functions to keep their names.
  return `"use strict";
const { parentPort } = require('node:worker_threads');
var __name = (f) => f;
const quantizeRows = (${quantizeRows.toString()});
parentPort.on('message', (j) => {
  let err;
  try {
    err = quantizeRows(j.format, j.dtype, new Uint8Array(j.src), j.row0, j.rows, j.cols, new Uint32Array(j.out), j.outWord);
  } catch (e) {
    err = 'the quantizer failed: ' + (e && e.message ? e.message : String(e));
  }
  parentPort.postMessage({ id: j.id, err });
});
`;
}

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
  const waiting: { job: Job; done: (err: string | null) => void; fail: (e: Error) => void }[] = [];
  const running = new Map<number, { done: (err: string | null) => void; fail: (e: Error) => void }>();
  let nextId = 0;
  let closed = false;

  const start = (): void => {
    for (let i = 0; i < n; i++) {
      const w = new Worker(workerSource(), { eval: true });
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
  const run = (job: Omit<Job, 'id'>): Promise<string | null> =>
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
    dtype: Job['dtype'],
    format: QuantFormat,
    what: string,
    rows: number,
    cols: number,
    rw: number,
  ): Promise<Uint32Array> => {
    // A few chunks per thread, so a slow thread does not hold the tensor up.
    const chunk = Math.max(1, Math.ceil(rows / (n * 4)));
    const jobs: Promise<string | null>[] = [];
    for (let row0 = 0; row0 < rows; row0 += chunk) {
      const count = Math.min(chunk, rows - row0);
      jobs.push(
        run({ format, dtype, src: srcStage, row0, rows: count, cols, out: outStage, outWord: row0 * rw }),
      );
    }
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
      if (rows * cols < SMALL) return quantizeRawTensor(raw, format, what);
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
        return await spread(raw.dtype as Job['dtype'], format, what, rows, cols, rw);
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
