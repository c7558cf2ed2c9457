import { describe, expect, it } from 'vitest';
import { CallClient, type Endpoint, firstLine, serveCalls } from './worker-rpc.ts';

type Api = {
  square: { params: number; result: number; progress: string };
  fail: { params: string; result: never; progress: never };
  /** Runs `batches` steps, each waiting for the test to release it, checking for a cancel in between. */
  steps: { params: number; result: number; progress: number };
};

/** Both ends of a MessageChannel: the worker's scope and the page's Worker. */
function pair() {
  const { port1, port2 } = new MessageChannel();
  return {
    worker: port1 as unknown as Endpoint,
    page: port2 as unknown as Endpoint,
    close: () => port1.close(),
  };
}

describe('serveCalls / CallClient', () => {
  it('answers calls with their progress, results, errors and events, in order', async () => {
    const { worker, page, close } = pair();
    const order: string[] = [];
    const { emit } = serveCalls<Api, string>(
      {
        async square(n, { progress }) {
          progress(`squaring ${n}`);
          await new Promise((r) => setTimeout(r, 5));
          order.push(`square ${n}`);
          return n * n;
        },
        async fail(text) {
          order.push('fail');
          throw new Error(text);
        },
        async steps() {
          return 0;
        },
      },
      worker,
    );
    const events: string[] = [];
    const calls = new CallClient<Api, string>(page, (e) => events.push(e));
    const seen: string[] = [];
    const nine = calls.call('square', 3, { onProgress: (p) => seen.push(p) });
    const failed = calls.call('fail', 'The file x.json is not JSON.\nat line 3');
    const four = calls.call('square', 2);
    expect(await nine).toBe(9);
    await expect(failed).rejects.toThrow('The file x.json is not JSON.\nat line 3');
    expect(await four).toBe(4);
    // One at a time, in arrival order: the second square waited for the failure before it.
    expect(order).toEqual(['square 3', 'fail', 'square 2']);
    expect(seen).toEqual(['squaring 3']);
    emit('device lost');
    await expect.poll(() => events).toEqual(['device lost']);
    close();
  });

  it("cancels a running call: the handler's signal aborts, the caller's promise rejects when it stops", async () => {
    const { worker, page, close } = pair();
    const release: (() => void)[] = [];
    const signals: AbortSignal[] = [];
    let ran = 0;
    serveCalls<Api, never>(
      {
        async square(n) {
          return n * n;
        },
        async fail() {
          throw new Error('no');
        },
        async steps(batches, { signal, progress }) {
          signals.push(signal);
          for (let i = 0; i < batches; i++) {
            signal.throwIfAborted();
            await new Promise<void>((r) => release.push(r));
            ran++;
            progress(i + 1);
          }
          return ran;
        },
      },
      worker,
    );
    const calls = new CallClient<Api, never>(page, () => {});
    const controller = new AbortController();
    const progress: number[] = [];
    const run = calls.call('steps', 5, { signal: controller.signal, onProgress: (p) => progress.push(p) });
    await expect.poll(() => release.length).toBe(1);
    controller.abort(new DOMException('The documents changed.', 'AbortError'));
    let settled = false;
    void run.catch(() => {}).finally(() => (settled = true));
    // The cancel reaches the worker while a batch is in flight; the run stops at its next check.
    await expect.poll(() => signals[0].aborted).toBe(true);
    const next = calls.call('square', 5);
    expect(settled).toBe(false);
    release.shift()!();
    await expect(run).rejects.toMatchObject({ name: 'AbortError', message: 'The documents changed.' });
    expect(await next).toBe(25);
    expect(ran).toBe(1);
    expect(release).toHaveLength(0);
    expect(progress).toEqual([]);
    close();
  });

  it("keeps an error's first line for one-sentence reports", () => {
    expect(firstLine(new Error('Bad adapter.\n  at x'), 'Failed.')).toBe('Bad adapter.');
    expect(firstLine(new Error(''), 'Failed.')).toBe('Failed.');
  });
});
