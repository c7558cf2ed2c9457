/**
 * One forward + backward of the contrastive (InfoNCE) objective on the GPU, keeping every graph:
 *   hidden = model(batch) -> mean of the read-out slots -> L2 norm  (queries and passages alike)
 *   scores = q p^T / tau over all B*g passages of the batch (in-batch negatives), labels i*g
 *   dq, dp -> l2Normalize backward -> meanPool backward (into dHidden) -> model.backward -> LoRA grads.
 * `gradcache.ts` computes the same loss and gradients chunk by chunk; the building blocks below are
 * shared by both. Only the per-query losses come back to the CPU (and, with `inspect`, the embeddings
 * and their gradients, for tests).
 *
 * ```ts
 * const r = await contrastiveStep(model, recipe, queryLayouts, passageLayouts, { groupSize: 8, tau: 0.02, seed: 7 });
 * r.loss; // mean InfoNCE over the queries; LoRA gradients accumulated on the device
 * ```
 */
import type { Gpu, Tensor } from '@llara/gpu';
import {
  infoNce,
  infoNceLabels,
  l2Normalize,
  l2NormalizeBackward,
  meanPool,
  meanPoolBackward,
} from '@llara/kernels';
import type { DeviceBatch, LlamaModel, TrainState } from '@llara/llama';
import { type Batch, batchForRecipe } from './batch.ts';
import { mixSeed } from './data.ts';
import type { Layout } from './layout.ts';
import type { Recipe } from './recipes.ts';

export interface ContrastiveOptions {
  /** Passages per query: 1 positive (first) + groupSize-1 hard negatives, groups laid out in turn. */
  groupSize: number;
  /** Temperature: scores are q.p / tau. */
  tau: number;
  /** Seed of this (micro-)step's LoRA dropout masks. */
  seed: number;
  /** GradCache chunk (sequences per forward); 0 or undefined = everything in one pass (plain path). */
  chunkSize?: number;
  /** Also read back the normalised embeddings and d(loss)/d(embeddings) (tests and debugging). */
  inspect?: boolean;
}

export interface ContrastiveInspection {
  /** [B, hidden] normalised query embeddings. */
  q: Float32Array;
  /** [B*g, hidden] normalised passage embeddings. */
  p: Float32Array;
  dq: Float32Array;
  dp: Float32Array;
}

export interface ContrastiveResult {
  /** Mean InfoNCE over the queries (what the accumulated gradient is of). */
  loss: number;
  /** Non-padding tokens embedded (queries + passages, each counted once). */
  tokens: number;
  inspect?: ContrastiveInspection;
}

/** Checks that B queries and B*g passages form whole groups. */
export function checkGroups(queries: number, passages: number, groupSize: number): void {
  if (!Number.isInteger(groupSize) || groupSize < 1)
    throw new Error(`The group size must be a positive integer, got ${groupSize}.`);
  if (queries < 1 || passages !== queries * groupSize)
    throw new Error(
      `${queries} queries with groups of ${groupSize} need ${queries * groupSize} passages, got ${passages}.`,
    );
}

/** Dropout seed of one embedding pass: side 0 = queries, 1 = passages; `chunk` numbers GradCache chunks. */
export function passSeed(seed: number, side: 0 | 1, chunk = 0): number {
  return mixSeed(seed, side, chunk);
}

function readoutOf(batch: Batch, recipe: Recipe): { slots: Int32Array; perRow: number } {
  const slots = batch.readout.embed;
  const perRow = batch.readoutPerRow.embed;
  if (!slots || !perRow) throw new Error(`Recipe "${recipe.name}" defines no embedding read-out.`);
  return { slots, perRow };
}

/** A batch's embeddings on the device with the graph kept for `backwardEmbeddings`. */
export interface EmbedPass {
  rows: number;
  dev: DeviceBatch;
  state: TrainState;
  /** i32 [rows * perRow] read-out slots. */
  slots: Tensor;
  perRow: number;
  /** f32 [rows, hidden] mean of the read-out hidden states (the L2 backward re-reads it). */
  pooled: Tensor;
  /** f32 [rows, hidden] L2-normalised embeddings. */
  emb: Tensor;
}

/** forwardTrain -> meanPool -> l2Normalize, all on the device. */
export function embedTrain(model: LlamaModel, recipe: Recipe, batch: Batch, seed: number): EmbedPass {
  const gpu = model.gpu;
  const H = model.shape.hiddenSize;
  const { slots, perRow } = readoutOf(batch, recipe);
  const n = batch.batch;
  const dev = model.upload(batch);
  const state = model.forwardTrain(dev, seed);
  const slotT = gpu.tensor('i32', [slots.length], slots, { label: 'ft.slots' });
  const pooled = gpu.tensor('f32', [n, H], undefined, { label: 'ft.pooled' });
  const emb = gpu.tensor('f32', [n, H], undefined, { label: 'ft.emb' });
  const rec = gpu.recorder();
  meanPool(rec, state.hidden, slotT, pooled, { groups: n, positions: perRow, dim: H });
  l2Normalize(rec, pooled, emb, { rows: n, dim: H });
  rec.submit();
  return { rows: n, dev, state, slots: slotT, perRow, pooled, emb };
}

/**
 * Back-propagates d(loss)/d(emb) [rows, hidden] of a pass through the L2 norm, the mean pool and the
 * model (LoRA gradients accumulate), then releases everything the pass holds.
 */
export function backwardEmbeddings(model: LlamaModel, pass: EmbedPass, dEmb: Tensor): void {
  const gpu = model.gpu;
  const H = model.shape.hiddenSize;
  const dPooled = gpu.tensor('f32', [pass.rows, H], undefined, { label: 'ft.dpooled' });
  const dHidden = gpu.tensor('f32', [pass.dev.tokens, H], undefined, { label: 'ft.dhidden' });
  const rec = gpu.recorder();
  l2NormalizeBackward(rec, pass.pooled, dEmb, dPooled, { rows: pass.rows, dim: H });
  rec.clear(dHidden);
  meanPoolBackward(rec, dPooled, pass.slots, dHidden, { groups: pass.rows, positions: pass.perRow, dim: H });
  rec.submit();
  model.backward(pass.state, dHidden);
  for (const t of [dPooled, dHidden, pass.slots, pass.pooled, pass.emb]) t.release();
  pass.dev.release();
}

/** The InfoNCE loss per query and its gradients w.r.t. both sides' normalised embeddings. */
export interface InfoNceOnDevice {
  /** f32 [B]: per-query CE / B (their sum is the mean loss). */
  loss: Tensor;
  dq: Tensor;
  dp: Tensor;
  release(): void;
}

/** Records InfoNCE with in-batch negatives (query i's positive is passage i*g). */
export function infoNceOnDevice(
  gpu: Gpu,
  q: Tensor,
  p: Tensor,
  o: { queries: number; groupSize: number; dim: number; tau: number },
): InfoNceOnDevice {
  const B = o.queries;
  const N = B * o.groupSize;
  const labels = gpu.tensor('i32', [B], infoNceLabels(B, o.groupSize), { label: 'ft.labels' });
  const loss = gpu.tensor('f32', [B], undefined, { label: 'ft.loss' });
  const dq = gpu.tensor('f32', [B, o.dim], undefined, { label: 'ft.dq' });
  const dp = gpu.tensor('f32', [N, o.dim], undefined, { label: 'ft.dp' });
  const rec = gpu.recorder();
  infoNce(rec, q, p, labels, loss, dq, dp, { queries: B, passages: N, dim: o.dim, tau: o.tau });
  rec.submit();
  return {
    loss,
    dq,
    dp,
    release() {
      for (const t of [labels, loss, dq, dp]) t.release();
    },
  };
}

/** Sum of the per-query loss terms, i.e. the mean InfoNCE. */
export async function readLoss(gpu: Gpu, loss: Tensor): Promise<number> {
  const per = (await gpu.read(loss)) as Float32Array;
  let s = 0;
  for (const x of per) s += x;
  return s;
}

export function realTokens(layouts: readonly Layout[]): number {
  return layouts.reduce((a, l) => a + l.ids.length, 0);
}

/**
 * The plain path: both sides embedded with their graphs kept, InfoNCE, then backward through each side.
 * Peak memory holds the training state of all B + B*g sequences at once.
 */
export async function plainContrastiveStep(
  model: LlamaModel,
  recipe: Recipe,
  queries: readonly Layout[],
  passages: readonly Layout[],
  o: ContrastiveOptions,
): Promise<ContrastiveResult> {
  checkGroups(queries.length, passages.length, o.groupSize);
  const gpu = model.gpu;
  const H = model.shape.hiddenSize;
  const qPass = embedTrain(model, recipe, batchForRecipe(recipe, [...queries]), passSeed(o.seed, 0));
  const pPass = embedTrain(model, recipe, batchForRecipe(recipe, [...passages]), passSeed(o.seed, 1));
  const nce = infoNceOnDevice(gpu, qPass.emb, pPass.emb, {
    queries: queries.length,
    groupSize: o.groupSize,
    dim: H,
    tau: o.tau,
  });
  const inspect = o.inspect
    ? {
        q: (await gpu.read(qPass.emb)) as Float32Array,
        p: (await gpu.read(pPass.emb)) as Float32Array,
        dq: (await gpu.read(nce.dq)) as Float32Array,
        dp: (await gpu.read(nce.dp)) as Float32Array,
      }
    : undefined;
  backwardEmbeddings(model, pPass, nce.dp);
  backwardEmbeddings(model, qPass, nce.dq);
  const loss = await readLoss(gpu, nce.loss);
  nce.release();
  return { loss, tokens: realTokens(queries) + realTokens(passages), ...(inspect ? { inspect } : {}) };
}
