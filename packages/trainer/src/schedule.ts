/**
 * Learning-rate schedules, as Hugging Face's `get_{constant,linear,cosine}_schedule_with_warmup`:
 * the lr of optimizer step `step` (0-based) is `lr * factor(step)`, so with warmup the first step runs
 * at lr 0, exactly as a `LambdaLR` does before its first `scheduler.step()`.
 *
 * @example
 * const s = { kind: 'cosine', lr: 3e-4, warmupSteps: 100, totalSteps: 1000 } as const;
 * learningRate(s, 0);    // 0
 * learningRate(s, 100);  // 3e-4
 * learningRate(s, 1000); // 0
 */

export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export const SCHEDULE_KINDS: readonly ScheduleKind[] = ['constant', 'linear', 'cosine'];

export interface Schedule {
  kind: ScheduleKind;
  /** Peak learning rate. */
  lr: number;
  warmupSteps: number;
  /** Needed by linear and cosine. */
  totalSteps: number;
  /** Cosine waves over the decay (HF default 0.5: one half-wave down to 0). */
  cycles?: number;
}

/** The multiplier of the peak lr at `step`. */
export function scheduleFactor(s: Schedule, step: number): number {
  const warm = s.warmupSteps;
  if (step < warm) return step / Math.max(1, warm);
  switch (s.kind) {
    case 'constant':
      return 1;
    case 'linear':
      return Math.max(0, (s.totalSteps - step) / Math.max(1, s.totalSteps - warm));
    case 'cosine': {
      const progress = (step - warm) / Math.max(1, s.totalSteps - warm);
      return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * (s.cycles ?? 0.5) * 2 * progress)));
    }
  }
}

/** The learning rate of optimizer step `step` (0-based). */
export function learningRate(s: Schedule, step: number): number {
  return s.lr * scheduleFactor(s, step);
}

/** Warmup steps from a ratio of the total, rounded up like HF's `get_warmup_steps`. */
export function warmupStepsFromRatio(ratio: number, totalSteps: number): number {
  return Math.ceil(ratio * totalSteps);
}

/** Parses a `--lr-schedule` value; one sentence listing the valid kinds otherwise. */
export function parseScheduleKind(name: string): ScheduleKind {
  if ((SCHEDULE_KINDS as readonly string[]).includes(name)) return name as ScheduleKind;
  throw new Error(
    `Unknown learning-rate schedule "${name}"; valid schedules are ${SCHEDULE_KINDS.join(', ')}.`,
  );
}
