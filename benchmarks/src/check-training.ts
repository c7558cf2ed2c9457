/**
 * Device check that training with f16 (tensor-core) attention computes what f32 attention does: the
 * same f16-weight model and LoRA adapter, one training forward and backward with each
 * `LlamaModel.trainingAttention`, then the final hidden states and every LoRA gradient compared by
 * cosine. This is the evidence needed before 'f16' becomes the training default: the attention checks
 * test the kernels alone, this one the forward, the recompute and the backward as the trainer chains
 * them (GQA, left padding, checkpointing). Where the device has no f16 subgroup matrices both runs use
 * the f32 kernels and the check says so instead of passing on identical numbers.
 */
import { type Gpu, randomArray } from '@llara/gpu';
import { attentionBackwardSubgroupMatrixShape } from '@llara/kernels';
import { LoraGpu, RandomCheckpoint, randomLora, uploadModel } from '@llara/llama';
import { caseBatch, compareRows, type ModelCase, modelCheckCases } from './check-model.ts';
import { type CheckResult, cosine } from './check-result.ts';
import { errorMessage } from './rows.ts';

const MIN_COSINE = 0.999;
const TOLERANCE = `min cosine >= ${MIN_COSINE} (hidden rows and each LoRA gradient)`;

interface TrainingOutputs {
  hidden: Float32Array;
  grads: { name: string; values: Float32Array }[];
}

async function trainingPass(gpu: Gpu, c: ModelCase, attention: 'f16' | 'f32'): Promise<TrainingOutputs> {
  const batch = caseBatch(c, 91);
  const model = await uploadModel(
    gpu,
    c.config,
    new RandomCheckpoint(c.config, { seed: 5, dtype: 'F16', std: c.std }),
  );
  try {
    model.lora = LoraGpu.upload(gpu, model.shape, randomLora(c.config, 8, 13));
    model.trainingAttention = attention;
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

export async function checkTrainingAttention(gpu: Gpu, smoke: boolean): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const c of modelCheckCases(smoke)) {
    const t0 = performance.now();
    const name = `training attention f16 vs f32: ${c.name}`;
    const seconds = () => (performance.now() - t0) / 1000;
    const tensorCores = attentionBackwardSubgroupMatrixShape(gpu, c.config.headDim) !== null;
    try {
      const f32 = await trainingPass(gpu, c, 'f32');
      const f16 = await trainingPass(gpu, c, 'f16');
      const hiddenCos = compareRows(f16.hidden, f32.hidden, c).min;
      let worst = { name: 'hidden', cos: hiddenCos };
      let maxErr = 0;
      f32.grads.forEach((g, i) => {
        const other = f16.grads[i].values;
        const cs = cosine(other, g.values);
        if (Number.isNaN(cs) || cs < worst.cos) worst = { name: g.name, cos: cs };
        for (let j = 0; j < g.values.length; j++) maxErr = Math.max(maxErr, Math.abs(other[j] - g.values[j]));
      });
      const ok = !Number.isNaN(worst.cos) && worst.cos >= MIN_COSINE;
      // Without tensor cores both runs took the same kernels: the numbers only show the plumbing works.
      results.push({
        name,
        status: !tensorCores ? 'skipped' : ok ? 'pass' : 'fail',
        maxAbsError: maxErr,
        tolerance: TOLERANCE,
        detail: `${tensorCores ? '' : `no tensor-core attention at head dim ${c.config.headDim} here, both ran the f32 kernels: `}hidden min row cosine ${hiddenCos.toFixed(6)}; worst ${worst.name} cosine ${worst.cos.toFixed(6)} over ${f32.grads.length} LoRA gradients`,
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
  return results;
}
