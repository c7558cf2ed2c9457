/**
 * Timing of recorded GPU work: the median over a few repetitions after warm-up. With the
 * `timestamp-query` feature each dispatch is timed on the GPU (its own compute pass between two
 * timestamps, so submit and readback overheads are excluded); without it, the wall time of
 * submit + wait is used.
 *
 * ```ts
 * const t = await timeRecorded(gpu, (rec) => matmul(rec, a, w, c, { M, N, K, transB: true }), { warmup: 2, iterations: 5 });
 * console.log(t.ms, t.timing);
 * ```
 */
import type { Gpu, Recorder } from '@llara/gpu';
import { median } from './rows.ts';

export interface TimingOptions {
  warmup: number;
  iterations: number;
}

export interface Timing {
  /** Median milliseconds of one repetition (all its dispatches summed). */
  ms: number;
  samples: number[];
  timing: 'gpu-timestamps' | 'wall';
}

/**
 * Runs `record` (which records the dispatches of one repetition) `warmup + iterations` times, one
 * submit each. GPU errors of the first repetition (e.g. a pipeline the device rejects) are thrown.
 */
export async function timeRecorded(
  gpu: Gpu,
  record: (rec: Recorder) => void,
  o: TimingOptions,
): Promise<Timing> {
  for (let i = 0; i < o.warmup; i++) {
    const rec = gpu.recorder({ profile: false });
    record(rec);
    rec.submit();
    await gpu.sync();
  }
  const gpuTimed = gpu.features.has('timestamp-query');
  const samples: number[] = [];
  for (let i = 0; i < o.iterations; i++) {
    const rec = gpu.recorder({ profile: gpuTimed });
    record(rec);
    if (gpuTimed) {
      rec.submit();
      const timings = await rec.timings();
      rec.dispose();
      await gpu.checkErrors();
      samples.push(timings.reduce((s, t) => s + t.ms, 0));
    } else {
      const t0 = performance.now();
      rec.submit();
      await gpu.sync();
      samples.push(performance.now() - t0);
    }
  }
  // Quantized or coarse timers can report 0 for very short kernels; a zero time is no measurement.
  const ms = median(samples);
  if (!(ms > 0)) throw new Error(`the timer reported ${ms} ms for every repetition, too short to measure`);
  return { ms, samples, timing: gpuTimed ? 'gpu-timestamps' : 'wall' };
}

/**
 * Wall-clock median of an async end-to-end step (`run` must wait for the GPU, e.g. by reading a
 * result). The repetition count adapts to the step's cost: at most `maxIterations`, and no more than
 * fit in `targetMs` after the warm-up (at least one).
 */
export async function timeWall(
  run: () => Promise<unknown>,
  o: { warmup: number; maxIterations: number; targetMs: number },
): Promise<{ ms: number; samples: number[]; warmupMs: number }> {
  let warmupMs = 0;
  for (let i = 0; i < o.warmup; i++) {
    const t0 = performance.now();
    await run();
    warmupMs = performance.now() - t0;
  }
  const estimate = Math.max(warmupMs, 1e-3);
  const iterations = Math.max(1, Math.min(o.maxIterations, Math.floor(o.targetMs / estimate)));
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await run();
    samples.push(performance.now() - t0);
  }
  return { ms: median(samples), samples, warmupMs };
}
