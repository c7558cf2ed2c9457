/**
 * What the two quantize pools share (Node's worker threads in quantize-pool.ts, the browser's Web
 * Workers in quantize-web-pool.ts): the pool's contract, the worker's source text built from
 * quantize-rows.ts's `quantizeRows`, the job message, and how a matrix's rows are split into jobs.
 * Nothing here imports a Node module, so the browser entry can use it.
 *
 * ```ts
 * const src = quantizeWorkerSource('web');            // a classic worker script, for a Blob URL
 * for (const [row0, rows] of rowChunks(4096, 4)) ...  // a few chunks per worker
 * ```
 */
import type { QuantFormat } from '@llara/gpu';
import { quantizeRows } from './quantize-rows.ts';
import type { RawTensor } from './safetensors.ts';

export interface QuantizePool {
  /** Workers in use (0: quantizes on the calling thread). */
  readonly threads: number;
  /** `quantizeRawTensor`, spread over the workers: the same words, bit for bit. */
  quantize(raw: RawTensor, format: QuantFormat, what: string): Promise<Uint32Array>;
  /** Ends the workers (pending work is abandoned). */
  close(): Promise<void>;
}

/** One job: rows [row0, row0 + rows) of `src` quantized into `out` from word `outWord`. */
export interface QuantizeJob {
  id: number;
  format: QuantFormat;
  dtype: 'F32' | 'F16' | 'BF16';
  /** The bytes from row 0 of this job's numbering (the whole tensor, or a transferred slice). */
  src: SharedArrayBuffer | ArrayBuffer;
  row0: number;
  rows: number;
  cols: number;
  out: SharedArrayBuffer | ArrayBuffer;
  outWord: number;
}

/** A worker's answer: an error sentence or null, and `out` and `src` back when they were transferred. */
export interface QuantizeReply {
  id: number;
  err: string | null;
  out?: ArrayBuffer;
  src?: ArrayBuffer;
}

/** Matrices smaller than this many values are quantized on the calling thread (messages cost more). */
export const SMALL_MATRIX = 1 << 18;

/**
 * The worker's script: `quantizeRows` (its source text, so bundled, built and TypeScript-source runs
 * all start the same code) answering `QuantizeJob` messages, as a Node `eval` worker or a classic Web
 * Worker.
 */
export function quantizeWorkerSource(host: 'node' | 'web'): string {
  const port =
    host === 'node'
      ? `const { parentPort } = require('node:worker_threads');
const listen = (f) => parentPort.on('message', f);
const reply = (m, t) => parentPort.postMessage(m, t);`
      : `const listen = (f) => { self.onmessage = (e) => f(e.data); };
const reply = (m, t) => self.postMessage(m, t);`;
  // `__name` covers bundlers that wrap inner functions to keep their names.
  return `"use strict";
${port}
var __name = (f) => f;
const quantizeRows = (${quantizeRows.toString()});
listen((j) => {
  let err;
  try {
    err = quantizeRows(j.format, j.dtype, new Uint8Array(j.src), j.row0, j.rows, j.cols, new Uint32Array(j.out), j.outWord);
  } catch (e) {
    err = 'the quantizer failed: ' + (e && e.message ? e.message : String(e));
  }
  // Transferred buffers go back the same way (the words, and the input for the pool to reuse); shared
  // ones are already in place.
  const shared = typeof SharedArrayBuffer !== 'undefined' && j.out instanceof SharedArrayBuffer;
  if (shared) reply({ id: j.id, err }, []);
  else reply({ id: j.id, err, out: j.out, src: j.src }, [j.out, j.src]);
});
`;
}

/** Rows split into [row0, count] chunks: a few per worker, so a slow worker does not hold the tensor up. */
export function rowChunks(rows: number, workers: number): [number, number][] {
  const chunk = Math.max(1, Math.ceil(rows / (workers * 4)));
  const out: [number, number][] = [];
  for (let row0 = 0; row0 < rows; row0 += chunk) out.push([row0, Math.min(chunk, rows - row0)]);
  return out;
}
