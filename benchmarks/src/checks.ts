/**
 * The GPU-only correctness checks (`device-main checks`): every matmul variant (subgroup matrices
 * included) at LLaMA-2-7B shapes, attention forward and backward at head dim 128 over long sequences,
 * the f16-weight model path against the f32 one, and training with each tensor-core option (f16
 * attention, f16 input gradients) against f32. Each check passes or fails against a stated tolerance
 * and reports its largest error; variants the device lacks are reported as skipped.
 *
 * ```ts
 * const checks = await runChecks(gpu, { smoke: true });
 * ```
 */
import type { Gpu } from '@llara/gpu';
import { checkAttention } from './check-attention.ts';
import { checkMatmul } from './check-matmul.ts';
import { checkModelF16 } from './check-model.ts';
import type { CheckResult } from './check-result.ts';
import { checkTrainingPrecision } from './check-training.ts';
import { errorMessage } from './rows.ts';

export interface ChecksOptions {
  /** Tiny shapes (CPU adapters); the checks themselves are the same. */
  smoke: boolean;
  /** Only groups whose name starts with one of these: 'matmul', 'attention', 'model', 'training'. */
  only?: string[];
  /** Called after each group with everything so far (incremental JSON). */
  onProgress?: (all: CheckResult[]) => void;
}

const GROUPS: [string, (gpu: Gpu, smoke: boolean) => Promise<CheckResult[]>][] = [
  ['matmul', checkMatmul],
  ['attention', checkAttention],
  ['model', checkModelF16],
  ['training', checkTrainingPrecision],
];

export async function runChecks(gpu: Gpu, o: ChecksOptions): Promise<CheckResult[]> {
  const all: CheckResult[] = [];
  for (const [name, run] of GROUPS) {
    if (o.only && !o.only.some((p) => name.startsWith(p))) continue;
    const t0 = performance.now();
    try {
      all.push(...(await run(gpu, o.smoke)));
    } catch (e) {
      all.push({
        name: `${name} checks`,
        status: 'error',
        maxAbsError: null,
        tolerance: '',
        detail: `the ${name} checks stopped: ${errorMessage(e)}`,
        seconds: (performance.now() - t0) / 1000,
      });
    }
    o.onProgress?.(all);
  }
  return all;
}

export function summarizeChecks(checks: readonly CheckResult[]): string {
  const count = (s: string) => checks.filter((c) => c.status === s).length;
  return `${count('pass')} pass, ${count('fail')} fail, ${count('error')} error, ${count('skipped')} skipped`;
}
