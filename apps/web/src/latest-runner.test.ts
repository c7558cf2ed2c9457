import { describe, expect, it } from 'vitest';
import { LatestRunner } from './latest-runner.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('LatestRunner', () => {
  it('runs only the last of a burst of values', async () => {
    const seen: string[] = [];
    const runner = new LatestRunner<string>(20, async (v) => void seen.push(v));
    for (const v of ['w', 'wi', 'win', 'wing']) runner.push(v);
    await sleep(5);
    expect(seen).toEqual([]);
    await runner.idle();
    expect(seen).toEqual(['wing']);
  });

  it('never overlaps runs and skips values replaced while one was running', async () => {
    const seen: string[] = [];
    let active = 0;
    let maxActive = 0;
    const runner = new LatestRunner<string>(1, async (v) => {
      active++;
      maxActive = Math.max(maxActive, active);
      await sleep(30);
      seen.push(v);
      active--;
    });
    runner.push('a');
    await sleep(10); // 'a' is running now
    runner.push('b');
    runner.push('c');
    await sleep(5);
    runner.push('d');
    await runner.idle();
    expect(maxActive).toBe(1);
    expect(seen).toEqual(['a', 'd']);
  });

  it('reports a failed run and keeps serving later values', async () => {
    const errors: unknown[] = [];
    const seen: string[] = [];
    const runner = new LatestRunner<string>(
      1,
      async (v) => {
        if (v === 'bad') throw new Error('boom');
        seen.push(v);
      },
      (e) => errors.push(e),
    );
    runner.push('bad');
    await runner.idle();
    runner.push('good');
    await runner.idle();
    expect((errors[0] as Error).message).toBe('boom');
    expect(seen).toEqual(['good']);
  });
});
