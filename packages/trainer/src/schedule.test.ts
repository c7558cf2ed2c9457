import { describe, expect, it } from 'vitest';
import { learningRate, parseScheduleKind, scheduleFactor, warmupStepsFromRatio } from './schedule.ts';

// Expected values written from the formulas of transformers' optimization.py.
describe('learning-rate schedules', () => {
  it('constant with warmup ramps linearly from 0, then holds', () => {
    const s = { kind: 'constant', lr: 1e-2, warmupSteps: 4, totalSteps: 10 } as const;
    expect([0, 1, 2, 3, 4, 9, 50].map((k) => scheduleFactor(s, k))).toEqual([0, 0.25, 0.5, 0.75, 1, 1, 1]);
    expect(learningRate({ ...s, warmupSteps: 0 }, 0)).toBe(1e-2);
  });

  it('linear decays to 0 at totalSteps and stays there', () => {
    const s = { kind: 'linear', lr: 2, warmupSteps: 2, totalSteps: 10 } as const;
    expect([0, 1, 2, 6, 10, 12].map((k) => learningRate(s, k))).toEqual([0, 1, 2, 1, 0, 0]);
  });

  it('cosine follows half a cosine wave after warmup', () => {
    const s = { kind: 'cosine', lr: 1, warmupSteps: 10, totalSteps: 110 } as const;
    expect(scheduleFactor(s, 5)).toBe(0.5);
    expect(scheduleFactor(s, 10)).toBe(1);
    expect(scheduleFactor(s, 60)).toBeCloseTo(0.5, 15);
    expect(scheduleFactor(s, 35)).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI * 0.25)), 15);
    expect(scheduleFactor(s, 110)).toBeCloseTo(0, 15);
    expect(scheduleFactor({ ...s, cycles: 1 }, 110)).toBeCloseTo(1, 15);
  });

  it('rounds warmup ratios up and names the valid kinds', () => {
    expect(warmupStepsFromRatio(0.1, 25)).toBe(3);
    expect(parseScheduleKind('cosine')).toBe('cosine');
    expect(() => parseScheduleKind('step')).toThrow(
      'Unknown learning-rate schedule "step"; valid schedules are constant, linear, cosine.',
    );
  });
});
