import { describe, expect, it } from 'vitest';
import { parameterCount } from './config.ts';
import { checkFits, estimateMemory } from './memory.ts';
import { LLAMA2_7B_CONFIG } from './random-init.ts';

const GiB = 1024 ** 3;
const H100 = { maxBufferSize: 2 ** 40, maxStorageBufferBindingSize: 2 ** 32 - 4, memoryBytes: 80 * GiB };
const DEFAULTS = { maxBufferSize: 256 * 2 ** 20, maxStorageBufferBindingSize: 128 * 2 ** 20 };

describe('estimateMemory', () => {
  it('counts LLaMA-2-7B weights exactly (6,738,415,616 parameters)', () => {
    expect(parameterCount(LLAMA2_7B_CONFIG)).toBe(6_738_415_616);
    const f16 = estimateMemory(LLAMA2_7B_CONFIG, {
      weightDtype: 'f16',
      batch: 1,
      seqLen: 1,
      mode: 'forward',
    });
    expect(f16.weights).toBe(2 * 6_738_415_616);
    const f32 = estimateMemory(LLAMA2_7B_CONFIG, {
      weightDtype: 'f32',
      batch: 1,
      seqLen: 1,
      mode: 'forward',
    });
    expect(f32.weights).toBe(2 * f16.weights);
  });

  it('grows with batch and length; training costs more; checkpointing saves memory', () => {
    const fwd = (batch: number, seqLen: number) =>
      estimateMemory(LLAMA2_7B_CONFIG, { weightDtype: 'f16', batch, seqLen, mode: 'forward' }).activations;
    expect(fwd(8, 512)).toBeGreaterThan(fwd(4, 512));
    expect(fwd(4, 1024)).toBeGreaterThan(fwd(4, 512));
    const train = (checkpointing: boolean) =>
      estimateMemory(LLAMA2_7B_CONFIG, {
        weightDtype: 'f16',
        batch: 4,
        seqLen: 512,
        mode: 'train',
        loraR: 64,
        activationCheckpointing: checkpointing,
      });
    expect(train(true).activations).toBeLessThan(train(false).activations);
    expect(train(true).activations).toBeGreaterThan(fwd(4, 512));
    // LoRA r 64 on all 7 projections of LLaMA-2-7B: 159,907,840 parameters; f32 values, grads, 2 moments.
    expect(train(true).adapter).toBe(159_907_840 * 16);
  });

  it('lets a 7B f16 forward fit an H100 and refuses it on an 8 GiB budget in one sentence', () => {
    const est = estimateMemory(LLAMA2_7B_CONFIG, {
      weightDtype: 'f16',
      batch: 8,
      seqLen: 512,
      mode: 'forward',
    });
    expect(() => checkFits(est, H100)).not.toThrow();
    expect(() => checkFits(est, { ...H100, memoryBytes: 8 * GiB })).toThrow(
      /^A LLaMA model of 32 layers x 4096 with f16 weights, forward on batch 8 x 512 tokens needs about [\d.]+ GiB of GPU memory \(weights 12\.6 GiB, .*\) but only 8\.0 GiB is available: lower --batch or --max-len, or quantize the base \(--quantize nf4\)\.$/,
    );
  });

  it('does not count attention scores flash attention never materialises', () => {
    // [8, 32, 2048, 2048] f32 scores would be 4 GiB; the largest buffer is one of the activations.
    const est = estimateMemory(LLAMA2_7B_CONFIG, {
      weightDtype: 'f16',
      batch: 8,
      seqLen: 2048,
      mode: 'forward',
    });
    expect(est.largestBufferName).toBe('the MLP activations');
    expect(est.largestBuffer).toBe(8 * 2048 * 11008 * 4);
  });

  it('refuses a buffer larger than the per-binding limit, naming it', () => {
    const est = estimateMemory(LLAMA2_7B_CONFIG, {
      weightDtype: 'f16',
      batch: 4,
      seqLen: 512,
      mode: 'train',
      loraR: 8,
    });
    expect(est.largestBufferName).toBe('the logits');
    expect(() => checkFits(est, DEFAULTS)).toThrow(
      /needs one buffer of 250\.0 MiB for the logits but this device allows 128\.0 MiB per buffer binding: lower --batch or --max-len\.$/,
    );
  });
});

describe('estimateMemory with a quantized base', () => {
  it('counts blocked matrices and f32 norms: LLaMA-2-7B q4 about 3.5 GiB, nf4 below q4, q8 about half of f16', () => {
    const w = (weightDtype: 'f16' | 'q8' | 'q4' | 'nf4') =>
      estimateMemory(LLAMA2_7B_CONFIG, { weightDtype, batch: 1, seqLen: 1, mode: 'forward' }).weights;
    // q4: 18 bytes per 32 values of every matrix, plus 65 norms of 4096 f32.
    const matrices = parameterCount(LLAMA2_7B_CONFIG) - 65 * 4096;
    expect(w('q4')).toBe((matrices / 32) * 18 + 65 * 4096 * 4);
    expect(w('q4') / GiB).toBeCloseTo(3.53, 2);
    expect(w('nf4')).toBeLessThan(w('q4'));
    expect(w('q8') / w('f16')).toBeCloseTo(0.53, 2);
  });
});
