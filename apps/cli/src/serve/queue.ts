/**
 * Admission control: at most `max` requests are admitted at once (running or waiting in the batcher);
 * one more is answered 429 with Retry-After instead of queueing without bound, as
 * text-embeddings-inference's `--max-concurrent-requests` does.
 *
 * ```ts
 * const admission = new Admission(512);
 * const leave = admission.enter(); // throws the 429 ApiError when full
 * try { ... } finally { leave(); }
 * ```
 */
import { ApiError } from './errors.ts';
import { LIMIT_FLAGS } from './limits.ts';

export class Admission {
  private count = 0;

  constructor(readonly max: number) {}

  get inFlight(): number {
    return this.count;
  }

  /** Admits one request and returns its release function (idempotent), or throws 429. */
  enter(): () => void {
    if (this.count >= this.max)
      throw new ApiError(
        429,
        'queue_full',
        `The server is busy: ${this.max} requests are in flight (${LIMIT_FLAGS.maxConcurrentRequests}); retry after 1 second.`,
        { 'retry-after': '1' },
      );
    this.count++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.count--;
    };
  }
}
