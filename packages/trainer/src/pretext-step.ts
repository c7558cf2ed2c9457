/**
 * One forward + backward of the LLaRA pretext objective on the GPU:
 *   hidden = model(ids); bag-of-words loss on the LM head at each task's read-out slots (max-pooled
 *   over the slots for `flag`), optional next-token AR loss on the text; d(loss)/d(hidden) is routed
 *   back through the LM head into the rows it came from, then through the model to the LoRA weights.
 * Only a few scalars come back to the CPU (the per-group and per-token losses).
 */
import type { Tensor } from '@llara/gpu';
import { bowLoss, crossEntropy, gatherRows, scatterAddRows } from '@llara/kernels';
import type { LlamaModel } from '@llara/llama';
import type { Batch, PretextArrays } from './batch.ts';

export interface PretextLosses {
  /** Weighted total: what the gradient is of. */
  loss: number;
  /** Per-task means, unweighted by the combine rule, as the released code logs them. */
  bowEbae: number;
  bowEbar: number;
  ar: number | null;
}

/**
 * Forward + backward of one (micro-)batch; LoRA gradients accumulate on the device. `inp` comes from
 * `pretextArrays(recipe, batch)`.
 */
export async function pretextStep(
  model: LlamaModel,
  batch: Batch,
  inp: PretextArrays,
  seed: number,
): Promise<PretextLosses> {
  const gpu = model.gpu;
  const V = model.shape.vocabSize;
  const H = model.shape.hiddenSize;
  const dev = model.upload(batch);
  const state = model.forwardTrain(dev, seed);
  const N = dev.tokens;
  const tmp: Tensor[] = [];
  const t = <T extends Tensor>(x: T) => {
    tmp.push(x);
    return x;
  };
  const rec = gpu.recorder();
  const dHidden = t(gpu.tensor('f32', [N, H], undefined, { label: 'd.hidden' }));
  rec.clear(dHidden);

  // Bag-of-words: gather the read-out rows, project with the LM head, pool, log-softmax, loss + grad.
  const R = inp.bowRows.length;
  const rows = t(gpu.tensor('i32', [R], inp.bowRows, { label: 'bow.rows' }));
  const h = t(gpu.tensor('f32', [R, H], undefined, { label: 'bow.h' }));
  gatherRows(rec, state.hidden, rows, h);
  const logits = t(gpu.tensor('f32', [R, V], undefined, { label: 'bow.logits' }));
  model.logits(rec, h, logits);
  const offsets = t(
    gpu.tensor('i32', [inp.bowTargetOffsets.length], inp.bowTargetOffsets, { label: 'bow.offsets' }),
  );
  const ids = t(
    gpu.tensor('i32', [Math.max(1, inp.bowTargetIds.length)], padIds(inp.bowTargetIds), {
      label: 'bow.targets',
    }),
  );
  const weights = t(gpu.tensor('f32', [inp.bowGroups], inp.bowWeights, { label: 'bow.weights' }));
  const groupLoss = t(gpu.tensor('f32', [inp.bowGroups], undefined, { label: 'bow.loss' }));
  const dLogits = t(gpu.tensor('f32', [R, V], undefined, { label: 'bow.dlogits' }));
  bowLoss(rec, logits, offsets, ids, weights, groupLoss, dLogits, {
    groups: inp.bowGroups,
    positions: inp.bowPositions,
    vocab: V,
  });
  const dh = t(gpu.tensor('f32', [R, H], undefined, { label: 'bow.dh' }));
  model.logitsBackward(rec, dLogits, dh);
  scatterAddRows(rec, dh, rows, dHidden);

  // AR: next-token cross-entropy on the text tokens.
  let arLoss: Tensor | null = null;
  const A = inp.arRows.length;
  if (A > 0) {
    const arRows = t(gpu.tensor('i32', [A], inp.arRows, { label: 'ar.rows' }));
    const labels = t(gpu.tensor('i32', [A], inp.arLabels, { label: 'ar.labels' }));
    const ah = t(gpu.tensor('f32', [A, H], undefined, { label: 'ar.h' }));
    gatherRows(rec, state.hidden, arRows, ah);
    const al = t(gpu.tensor('f32', [A, V], undefined, { label: 'ar.logits' }));
    model.logits(rec, ah, al);
    const loss = t(gpu.tensor('f32', [A], undefined, { label: 'ar.loss' }));
    arLoss = loss;
    const dal = t(gpu.tensor('f32', [A, V], undefined, { label: 'ar.dlogits' }));
    crossEntropy(rec, al, labels, loss, dal, { rows: A, vocab: V, weight: inp.arWeight });
    const dah = t(gpu.tensor('f32', [A, H], undefined, { label: 'ar.dh' }));
    model.logitsBackward(rec, dal, dah);
    scatterAddRows(rec, dah, arRows, dHidden);
  }
  rec.submit();

  model.backward(state, dHidden);
  const perGroup = (await gpu.read(groupLoss)) as Float32Array;
  const perToken = arLoss ? ((await gpu.read(arLoss)) as Float32Array) : null;
  for (const x of tmp) x.release();
  dev.release();
  return summarise(inp, perGroup, perToken);
}

function summarise(inp: PretextArrays, perGroup: Float32Array, perToken: Float32Array | null): PretextLosses {
  // Each group's loss already carries its weight (task scale, 1/batch, combine factor), so a task's
  // logged value (the batch mean of that task's loss) is its groups' sum without the combine factor.
  let bow = 0;
  const sums = { ebae: 0, ebar: 0 };
  perGroup.forEach((l, g) => {
    bow += l;
    sums[inp.bowTask[g]] += l;
  });
  let ar: number | null = null;
  if (perToken) {
    ar = 0;
    for (const x of perToken) ar += x;
  }
  return {
    loss: bow + (ar ?? 0),
    bowEbae: sums.ebae / inp.bowCombine,
    bowEbar: sums.ebar / inp.bowCombine,
    ar,
  };
}

function padIds(ids: Int32Array): Int32Array {
  return ids.length > 0 ? ids : new Int32Array(1);
}
