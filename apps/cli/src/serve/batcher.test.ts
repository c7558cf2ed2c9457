import type { Layout } from '@llara/trainer';
import { describe, expect, it } from 'vitest';
import { Batcher, type BatcherOptions, JobCancelled } from './batcher.ts';

/** A layout of n tokens whose fake embedding is [n, first id]. */
const layout = (n: number, id = n): Layout => ({ ids: Array(n).fill(id) }) as unknown as Layout;

function fakeBatcher(options: Partial<BatcherOptions> = {}) {
  const batches: number[][] = [];
  let gate: Promise<void> = Promise.resolve();
  const batcher = new Batcher(
    async (layouts) => {
      batches.push(layouts.map((l) => l.ids.length));
      await gate;
      return Float32Array.from(layouts.flatMap((l) => [l.ids.length, l.ids[0]]));
    },
    { maxBatchTokens: 64, maxBatchRequests: 4, padTo: 8, mode: 'mixed', ...options },
  );
  return {
    batcher,
    batches,
    hold() {
      let open!: () => void;
      gate = new Promise((r) => {
        open = r;
      });
      return open;
    },
  };
}

describe('Batcher', () => {
  it('runs the oldest row with the rows nearest its length, within the token budget and the count', async () => {
    const { batcher, batches } = fakeBatcher();
    const a = batcher.submit([layout(3), layout(17)]);
    const b = batcher.submit([layout(9), layout(1), layout(2), layout(30, 5)]);
    expect((await a).map((r) => [...r])).toEqual([
      [3, 3],
      [17, 17],
    ]);
    expect((await b).map((r) => r[0])).toEqual([9, 1, 2, 30]);
    // Padded to 8: the oldest (3 -> 8) takes 1 and 2 (8) and 9 (16): 4 rows (the count limit) x 16 =
    // 64 tokens; then 17 (24) takes 30 (32): 2 x 32 = 64.
    expect(batches).toEqual([
      [9, 3, 1, 2],
      [30, 17],
    ]);
  });

  it('never lets a short row wait behind longer rows that arrived after it', async () => {
    const { batcher, batches, hold } = fakeBatcher({ maxBatchTokens: 32 });
    const open = hold();
    const first = batcher.submit([layout(30)]);
    await new Promise((r) => setTimeout(r, 0));
    const short = batcher.submit([layout(2)]);
    const longer = [batcher.submit([layout(31)]), batcher.submit([layout(29)])];
    open();
    await Promise.all([first, short, ...longer]);
    expect(batches).toEqual([[30], [2], [31], [29]]);
  });

  it('in equal-length mode batches only rows of the same padded length; in single mode one row', async () => {
    const eq = fakeBatcher({ mode: 'equal-length' });
    await eq.batcher.submit([layout(3), layout(5), layout(12), layout(9), layout(1)]);
    expect(eq.batches).toEqual([
      [3, 5, 1],
      [12, 9],
    ]);
    const one = fakeBatcher({ mode: 'single' });
    await one.batcher.submit([layout(3), layout(5)]);
    expect(one.batches).toEqual([[3], [5]]);
  });

  it('drops the queued rows of a cancelled request before they run', async () => {
    const { batcher, batches, hold } = fakeBatcher({ maxBatchRequests: 1 });
    const open = hold();
    const first = batcher.submit([layout(4)]);
    await new Promise((r) => setTimeout(r, 0));
    const abort = new AbortController();
    const gone = batcher.submit([layout(6), layout(7)], abort.signal);
    abort.abort();
    expect(batcher.queued).toBe(2);
    open();
    await first;
    await expect(gone).rejects.toBeInstanceOf(JobCancelled);
    await batcher.idle();
    expect(batches).toEqual([[4]]);
  });

  it('fails a whole batch with the error of its pass and keeps serving the next', async () => {
    let fail = true;
    const batcher = new Batcher(
      async (layouts) => {
        if (fail) {
          fail = false;
          throw new Error('device lost');
        }
        return new Float32Array(layouts.length * 2);
      },
      { maxBatchTokens: 64, maxBatchRequests: 8, padTo: 8, mode: 'mixed' },
    );
    await expect(batcher.submit([layout(3), layout(4)])).rejects.toThrow('device lost');
    expect(await batcher.submit([layout(3)])).toHaveLength(1);
  });
});
