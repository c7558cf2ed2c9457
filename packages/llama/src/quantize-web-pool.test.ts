/**
 * The browser quantize pool where no browser runs it: its fallbacks, with a stand-in `Worker`. Its
 * words over real nested Web Workers are checked in Chromium by apps/web/src/quantize-web-pool.test.ts.
 */
import { f32ToF16Bits, seededRandom } from '@llara/gpu';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { quantizeRawTensor } from './quantize-tensor.ts';
import { createWebQuantizePool } from './quantize-web-pool.ts';
import type { RawTensor } from './safetensors.ts';

function matrix(rows: number, cols: number): RawTensor {
  const rand = seededRandom(5);
  const bits = Uint16Array.from({ length: rows * cols }, () => f32ToF16Bits(rand() - 0.5));
  return { dtype: 'F16', shape: [rows, cols], data: new Uint8Array(bits.buffer) };
}

/** A Worker that never starts: it reports an error for the first message, as a blocked script does. */
class FailingWorker {
  static started = 0;
  onmessage: ((e: unknown) => void) | null = null;
  onerror: ((e: { message: string; preventDefault(): void }) => void) | null = null;
  constructor() {
    FailingWorker.started++;
  }
  postMessage(): void {
    setTimeout(() => this.onerror?.({ message: '', preventDefault() {} }));
  }
  terminate(): void {}
}

describe('createWebQuantizePool fallbacks', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    FailingWorker.started = 0;
  });

  it('quantizes on the calling thread with one worker, without Worker, or below the threshold', async () => {
    const raw = matrix(40, 96);
    const want = quantizeRawTensor(raw, 'q4', 'w');
    const one = createWebQuantizePool({ workers: 1 });
    expect(one.threads).toBe(0);
    expect(await one.quantize(raw, 'q4', 'w')).toEqual(want);
    vi.stubGlobal('Worker', undefined);
    const none = createWebQuantizePool({ workers: 4, small: 100 });
    expect(none.threads).toBe(0);
    expect(await none.quantize(raw, 'q4', 'w')).toEqual(want);
    vi.stubGlobal('Worker', FailingWorker);
    const pool = createWebQuantizePool({ workers: 4 });
    expect(pool.threads).toBe(4);
    expect(await pool.quantize(raw, 'q4', 'w')).toEqual(want); // 3840 values < 2^18
    expect(FailingWorker.started).toBe(0);
    await pool.close();
    await expect(pool.quantize(raw, 'q4', 'w')).rejects.toThrow('The quantize pool is closed.');
  });

  it('falls back to the calling thread when its workers cannot start, and still reports bad values', async () => {
    vi.stubGlobal('Worker', FailingWorker);
    const raw = matrix(40, 96);
    const pool = createWebQuantizePool({ workers: 4, small: 100 });
    expect(await pool.quantize(raw, 'nf4', 'w')).toEqual(quantizeRawTensor(raw, 'nf4', 'w'));
    expect(FailingWorker.started).toBe(4);
    // Later matrices do not try the workers again.
    expect(await pool.quantize(raw, 'q8', 'w')).toEqual(quantizeRawTensor(raw, 'q8', 'w'));
    expect(FailingWorker.started).toBe(4);
    const bad = matrix(40, 96);
    new Uint16Array(bad.data.buffer)[7 * 96 + 3] = 0x7c00; // +inf
    await expect(pool.quantize(bad, 'q8', 'tensor w')).rejects.toThrow(
      'tensor w row 7: cannot quantize the non-finite value Infinity (column 3).',
    );
    await pool.close();
  });
});
