/**
 * Dynamic batching: sequences from concurrent requests wait here and run together, one forward pass
 * at a time (the GPU is serial anyway, and requests that arrive while a pass runs form the next batch,
 * as text-embeddings-inference does). A batch is the oldest waiting sequence plus those nearest to it in
 * length (sorted by length, so little padding), up to a padded-token budget and a sequence count;
 * anchoring on the oldest keeps short queries from waiting behind a stream of long passages.
 *
 * A row's embedding must not depend on what it was batched with. How far that holds is the device's
 * business (padding and batch size change tile boundaries in some kernels), so the server measures it
 * at start (`probeBatching`) and the batcher obeys the answer:
 * - `mixed`: any lengths together (the rows' bits were identical alone and padded);
 * - `equal-length`: only rows of the same padded length, so each row gets exactly the padding it gets
 *   alone (the rows' bits only matched without extra padding);
 * - `single`: one row per pass.
 *
 * ```ts
 * const batcher = new Batcher((layouts) => embedder.embedLayouts(layouts), { ...limits, padTo: 8, mode: 'mixed' });
 * const rows = await batcher.submit(layouts); // one Float32Array per layout
 * ```
 */
import type { Layout } from '@llara/trainer';

export type BatchingMode = 'mixed' | 'equal-length' | 'single';

export interface BatcherOptions {
  maxBatchTokens: number;
  maxBatchRequests: number;
  /** The recipe's `padToMultipleOf`: padded length = ceil(tokens / padTo) * padTo. */
  padTo: number;
  mode: BatchingMode;
  /** Called after each pass (metrics). */
  onBatch?: (b: BatchStats) => void;
}

export interface BatchStats {
  sequences: number;
  /** Real tokens. */
  tokens: number;
  /** Tokens including padding (sequences x padded length). */
  paddedTokens: number;
  seconds: number;
}

/** Runs one padded batch: row-major [layouts.length, dim] (`Embedder.embedLayouts`). */
export type BatchRun = (layouts: Layout[]) => Promise<Float32Array>;

interface Job {
  layout: Layout;
  padded: number;
  seq: number;
  resolve: (row: Float32Array) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
}

/** Thrown to jobs whose request went away (client disconnect, timeout) before they ran. */
export class JobCancelled extends Error {
  override name = 'JobCancelled';
}

export class Batcher {
  private pending: Job[] = [];
  private running = false;
  private seq = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private run: BatchRun,
    readonly options: BatcherOptions,
  ) {}

  /** Sequences waiting for a pass (the queue-depth metric). */
  get queued(): number {
    return this.pending.length;
  }

  get busy(): boolean {
    return this.running;
  }

  /** Replaces the function that runs a batch (after the model was reloaded on a new device). */
  setRun(run: BatchRun): void {
    this.run = run;
  }

  paddedLength(tokens: number): number {
    const m = Math.max(1, this.options.padTo);
    return Math.ceil(tokens / m) * m;
  }

  /**
   * Queues `layouts` and resolves with their embeddings in order. An aborted `signal` drops the
   * sequences that have not run yet (the GPU does not embed for a client that left).
   */
  submit(layouts: Layout[], signal?: AbortSignal): Promise<Float32Array[]> {
    const rows = layouts.map(
      (layout) =>
        new Promise<Float32Array>((resolve, reject) => {
          this.pending.push({
            layout,
            padded: this.paddedLength(layout.ids.length),
            seq: this.seq++,
            resolve,
            reject,
            signal,
          });
        }),
    );
    const all = Promise.all(rows);
    // The first failure answers the request; the others must not become unhandled rejections.
    for (const r of rows) r.catch(() => {});
    queueMicrotask(() => void this.pump());
    return all;
  }

  /** Rejects every queued sequence with `error` (device lost, shutting down). */
  failAll(error: unknown): void {
    const jobs = this.pending;
    this.pending = [];
    for (const j of jobs) j.reject(error);
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (!this.running && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * The next batch: the oldest waiting row (so no row waits behind a stream of others), then the rows
   * nearest to it in length (little padding), within the budget and the mode (see the file comment).
   */
  private take(): Job[] {
    this.pending = this.pending.filter((j) => {
      if (!j.signal?.aborted) return true;
      j.reject(new JobCancelled('The request was cancelled before its inputs ran.'));
      return false;
    });
    if (this.pending.length === 0) return [];
    const { maxBatchTokens, maxBatchRequests, mode } = this.options;
    // `pending` stays in arrival order, so the oldest row is the first.
    const anchor = this.pending[0];
    const batch = [anchor];
    if (mode !== 'single') {
      const near = this.pending
        .slice(1)
        .filter((j) => mode === 'mixed' || j.padded === anchor.padded)
        .sort(
          (a, b) => Math.abs(a.padded - anchor.padded) - Math.abs(b.padded - anchor.padded) || a.seq - b.seq,
        );
      let T = anchor.padded;
      for (const j of near) {
        if (batch.length >= maxBatchRequests) break;
        const t = Math.max(T, j.padded);
        if ((batch.length + 1) * t > maxBatchTokens) continue;
        batch.push(j);
        T = t;
      }
    }
    const taken = new Set(batch);
    this.pending = this.pending.filter((j) => !taken.has(j));
    return batch.sort((a, b) => b.padded - a.padded || a.seq - b.seq);
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let batch = this.take(); batch.length > 0; batch = this.take()) {
        const started = performance.now();
        let out: Float32Array;
        try {
          out = await this.run(batch.map((j) => j.layout));
        } catch (e) {
          for (const j of batch) j.reject(e);
          continue;
        }
        const dim = out.length / batch.length;
        batch.forEach((j, r) => {
          j.resolve(out.slice(r * dim, (r + 1) * dim));
        });
        this.options.onBatch?.({
          sequences: batch.length,
          tokens: batch.reduce((s, j) => s + j.layout.ids.length, 0),
          paddedTokens: batch.length * batch[0].padded,
          seconds: (performance.now() - started) / 1000,
        });
      }
    } finally {
      this.running = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
