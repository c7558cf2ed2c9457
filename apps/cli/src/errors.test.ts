import { DeviceLostError, GpuError } from '@llara/gpu';
import { describe, expect, it } from 'vitest';
import { trainingError, UserError } from './errors.ts';

describe('trainingError', () => {
  it('turns a lost device into one sentence that says how to continue, and leaves other errors alone', () => {
    const lost = trainingError(
      new DeviceLostError('The GPU device was lost (unknown: driver reset).'),
      'runs/a',
    );
    expect(lost).toBeInstanceOf(UserError);
    expect((lost as Error).message).toBe(
      'The GPU device was lost (unknown: driver reset); the checkpoints saved so far are in runs/a, so rerun the same command with --resume to continue.',
    );
    const other = new GpuError('GPU error: bad binding');
    expect(trainingError(other, 'runs/a')).toBe(other);
  });
});
