/** The Train panel's settings and rows, without a browser: what the knobs mean and their one-sentence errors. */
import { describe, expect, it } from 'vitest';
import { documentsToRows } from './rows.ts';
import {
  checkSettings,
  DEFAULT_TRAIN_SETTINGS,
  defaultWarmup,
  loraConfig,
  pretrainConfig,
} from './settings.ts';

describe('Train panel settings', () => {
  it('maps the knobs to what llara pretrain builds from the same flags', () => {
    const s = {
      ...DEFAULT_TRAIN_SETTINGS,
      steps: 10,
      warmup: defaultWarmup(10),
      ar: true,
      recipe: 'paper' as const,
    };
    const c = pretrainConfig(s, 512);
    expect(c.recipe.name).toBe('paper');
    expect(c.schedule).toEqual({ kind: 'cosine', lr: 1e-2, warmupSteps: 1, totalSteps: 10 });
    expect(c.adamw).toEqual({
      lr: 1e-2,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0,
      maxGradNorm: 1,
    });
    expect(c.gradAccum).toBe(1);
    expect(loraConfig(s).targets).toHaveLength(7);
    expect(pretrainConfig({ ...s, ar: false }, 512).ar).toBe(false);
  });

  it('names the knob in one sentence when a value is out of range', () => {
    expect(() => checkSettings({ ...DEFAULT_TRAIN_SETTINGS, steps: 0 })).toThrow(
      /^Steps must be a whole number of at least 1\.$/,
    );
    expect(() => checkSettings({ ...DEFAULT_TRAIN_SETTINGS, lr: 2 })).toThrow(
      /^Learning rate must be between 0 and 1\.$/,
    );
    expect(() => checkSettings({ ...DEFAULT_TRAIN_SETTINGS, loraDropout: 1 })).toThrow(/^LoRA dropout/);
    expect(checkSettings(DEFAULT_TRAIN_SETTINGS)).toBe(DEFAULT_TRAIN_SETTINGS);
  });
});

describe('documents as pretraining rows', () => {
  it('takes the first sentence as input and the rest as the EBAR target', () => {
    expect(documentsToRows(['The wing lifts. Air flows over it.', 'One sentence only'])).toEqual([
      { input: 'The wing lifts.', outputSummarize: 'The wing lifts.', outputPredict: 'Air flows over it.' },
    ]);
  });

  it('pairs consecutive documents when none has two sentences, and says when there is nothing', () => {
    const rows = documentsToRows(['first note', 'second note']);
    expect(rows).toHaveLength(1);
    expect(rows[0].outputPredict).toBe('second note');
    expect(() => documentsToRows(['alone'])).toThrow(/^There is nothing to train on: /);
  });
});
