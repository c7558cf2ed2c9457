/**
 * Device checks that the tensor-core training options compute what the f32 path does: the same
 * f16-weight model and LoRA adapter, one training forward and backward with f32 everywhere, then with
 * one option switched to f16 (`LlamaModel.trainingAttention`: flash attention forward, recompute and
 * backward on subgroup matrices; `LlamaModel.trainingInputGradients`: dy W on subgroup matrices with dy
 * rescaled), comparing the final hidden states and every LoRA gradient by cosine. This is the evidence
 * needed before 'f16' becomes a training default: the kernel checks test the kernels alone, these the
 * chain the trainer runs (GQA, left padding, checkpointing). Where the device lacks the tensor-core
 * kernel both runs use the f32 kernels and the check says so instead of passing on identical numbers.
 */
import { type Gpu, randomArray } from '@llara/gpu';
import { attentionBackwardSubgroupMatrixShape, subgroupMatrixShape } from '@llara/kernels';
import { LoraGpu, RandomCheckpoint, randomLora, uploadModel } from '@llara/llama';
import { caseBatch, compareRows, type ModelCase, modelCheckCases } from './check-model.ts';
import { type CheckResult, cosine } from './check-result.ts';
import { errorMessage } from './rows.ts';

const MIN_COSINE = 0.999;
const TOLERANCE = `min cosine >= ${MIN_COSINE} (hidden rows and each LoRA gradient)`;

interface Precisions {
  attention: 'f16' | 'f32';
  inputGradients: 'f16' | 'f32';
}

interface Variant extends Precisions {
  what: string;
  /** Whether the device runs this option's tensor-core kernel for the case (else: why not). */
  tensorCores: (gpu: Gpu, c: ModelCase) => string | null;
}

const VARIANTS: Variant[] = [
  {
    what: 'f16 attention',
    attention: 'f16',
    inputGradients: 'f32',
    tensorCores: (gpu, c) =>
      attentionBackwardSubgroupMatrixShape(gpu, c.config.headDim)
        ? null
        : `no tensor-core attention at head dim ${c.config.headDim} here`,
  },
  {
    what: 'f16 input gradients',
    attention: 'f32',
    inputGradients: 'f16',
    tensorCores: (gpu) => (subgroupMatrixShape(gpu) ? null : 'no subgroup matrices here'),
  },
];

interface TrainingOutputs {
  hidden: Float32Array;
  grads: { name: string; values: Float32Array }[];
}

async function trainingPass(gpu: Gpu, c: ModelCase, p: Precisions): Promise<TrainingOutputs> {
  const batch = caseBatch(c, 91);
  const model = await uploadModel(
    gpu,
    c.config,
    new RandomCheckpoint(c.config, { seed: 5, dtype: 'F16', std: c.std }),
  );
  try {
    model.lora = LoraGpu.upload(gpu, model.shape, randomLora(c.config, 8, 13));
    model.trainingAttention = p.attention;
    model.trainingInputGradients = p.inputGradients;
    const dev = model.upload(batch);
    const state = model.forwardTrain(dev, 1);
    const hidden = (await gpu.read(state.hidden)) as Float32Array;
    const H = c.config.hiddenSize;
    const n = batch.ids.length;
    const dHidden = gpu.tensor('f32', [n, H], randomArray(n * H, 17, -1, 1));
    model.backward(state, dHidden);
    dHidden.release();
    dev.release();
    const grads = [];
    for (const p of model.lora.parameters())
      grads.push({ name: p.name, values: (await gpu.read(p.grad)) as Float32Array });
    return { hidden, grads };
  } finally {
    model.destroy(); // and its adapter
    gpu.pool.trim();
  }
}

function compareOutputs(got: TrainingOutputs, want: TrainingOutputs, c: ModelCase) {
  const hiddenCos = compareRows(got.hidden, want.hidden, c).min;
  let worst = { name: 'hidden', cos: hiddenCos };
  let maxErr = 0;
  want.grads.forEach((g, i) => {
    const other = got.grads[i].values;
    const cs = cosine(other, g.values);
    if (Number.isNaN(cs) || cs < worst.cos) worst = { name: g.name, cos: cs };
    for (let j = 0; j < g.values.length; j++) maxErr = Math.max(maxErr, Math.abs(other[j] - g.values[j]));
  });
  return { hiddenCos, worst, maxErr, ok: !Number.isNaN(worst.cos) && worst.cos >= MIN_COSINE };
}

export async function checkTrainingPrecision(gpu: Gpu, smoke: boolean): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const c of modelCheckCases(smoke)) {
    let f32: TrainingOutputs | null = null;
    for (const v of VARIANTS) {
      const t0 = performance.now();
      const name = `training ${v.what} vs f32: ${c.name}`;
      const seconds = () => (performance.now() - t0) / 1000;
      const missing = v.tensorCores(gpu, c);
      try {
        f32 ??= await trainingPass(gpu, c, { attention: 'f32', inputGradients: 'f32' });
        const r = compareOutputs(await trainingPass(gpu, c, v), f32, c);
        // Without tensor cores both runs took the same kernels: the numbers only show the plumbing works.
        results.push({
          name,
          status: missing ? 'skipped' : r.ok ? 'pass' : 'fail',
          maxAbsError: r.maxErr,
          tolerance: TOLERANCE,
          detail: `${missing ? `${missing}, both ran the f32 kernels: ` : ''}hidden min row cosine ${r.hiddenCos.toFixed(6)}; worst ${r.worst.name} cosine ${r.worst.cos.toFixed(6)} over ${f32.grads.length} LoRA gradients`,
          seconds: seconds(),
        });
      } catch (e) {
        results.push({
          name,
          status: 'error',
          maxAbsError: null,
          tolerance: TOLERANCE,
          detail: errorMessage(e),
          seconds: seconds(),
        });
      }
    }
  }
  return results;
}
