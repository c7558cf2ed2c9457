/**
 * GradCache (Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited
 * Setup"): the contrastive loss couples every query with every passage of the batch, but its gradient
 * w.r.t. the model factors through the (small) embeddings. So:
 *   1. embed all queries and passages chunk by chunk WITHOUT keeping graphs, into [B, d] and [B*g, d];
 *   2. InfoNCE on the full batch gives the loss and d(loss)/d(embeddings) (the cache);
 *   3. re-run each chunk with its graph (forwardTrain) and back-propagate its rows of the cache.
 * Memory then holds one chunk's training state instead of the whole batch's, for one extra forward.
 * Step 3 replays step 1's LoRA dropout masks (same seed per chunk, `forwardNoGraph`), so the cached
 * gradient belongs to the function being differentiated. Chunks are formed over a length-sorted order
 * so each carries little padding; rows go back to their places with scatter/gather on the device.
 *
 * ```ts
 * const r = await gradCacheStep(model, recipe, queryLayouts, passageLayouts, { groupSize: 8, tau: 0.02, seed: 7, chunkSize: 4 });
 * ```
 */
import type { Tensor } from '@llara/gpu';
import { gatherRows, l2Normalize, meanPool, scatterAddRows } from '@llara/kernels';
import type { DeviceBatch, LlamaModel } from '@llara/llama';
import { type Batch, batchForRecipe, sortByLength } from './batch.ts';
import {
  backwardEmbeddings,
  type ContrastiveOptions,
  type ContrastiveResult,
  checkGroups,
  embedTrain,
  infoNceOnDevice,
  passSeed,
  readLoss,
  realTokens,
} from './contrastive-step.ts';
import type { Layout } from './layout.ts';
import type { Recipe } from './recipes.ts';

/**
 * Final hidden states f32 [tokens, hidden] without keeping activations, with the LoRA dropout masks of
 * `model.forwardTrain(batch, seed)`. Caller releases.
 */
export function forwardNoGraph(model: LlamaModel, batch: DeviceBatch, seed: number): Tensor {
  return model.forward(batch, { dropoutSeed: seed });
}

interface Chunk {
  /** Rows of the full [n, d] embedding matrix this chunk fills, in chunk order. */
  rows: Int32Array;
  batch: Batch;
  seed: number;
}

function planChunks(
  recipe: Recipe,
  layouts: readonly Layout[],
  size: number,
  seed: number,
  side: 0 | 1,
): Chunk[] {
  const { order } = sortByLength(layouts.map((l) => l.ids.length));
  const out: Chunk[] = [];
  for (let start = 0, c = 0; start < order.length; start += size, c++) {
    const idx = order.slice(start, start + size);
    out.push({
      rows: Int32Array.from(idx),
      batch: batchForRecipe(
        recipe,
        idx.map((i) => layouts[i]),
      ),
      seed: passSeed(seed, side, c),
    });
  }
  return out;
}

/** Step 1 for one side: embeddings of every chunk scattered into `full` [n, d] (no graphs kept). */
function embedChunks(model: LlamaModel, recipe: Recipe, chunks: Chunk[], full: Tensor): void {
  const gpu = model.gpu;
  const H = model.shape.hiddenSize;
  const clear = gpu.recorder();
  clear.clear(full);
  clear.submit();
  for (const chunk of chunks) {
    const n = chunk.batch.batch;
    const slots = chunk.batch.readout.embed;
    const perRow = chunk.batch.readoutPerRow.embed;
    if (!slots || !perRow) throw new Error(`Recipe "${recipe.name}" defines no embedding read-out.`);
    const dev = model.upload(chunk.batch);
    const hidden = forwardNoGraph(model, dev, chunk.seed);
    const slotT = gpu.tensor('i32', [slots.length], slots, { label: 'gc.slots' });
    const rows = gpu.tensor('i32', [n], chunk.rows, { label: 'gc.rows' });
    const pooled = gpu.tensor('f32', [n, H], undefined, { label: 'gc.pooled' });
    const emb = gpu.tensor('f32', [n, H], undefined, { label: 'gc.emb' });
    const rec = gpu.recorder();
    meanPool(rec, hidden, slotT, pooled, { groups: n, positions: perRow, dim: H });
    l2Normalize(rec, pooled, emb, { rows: n, dim: H });
    scatterAddRows(rec, emb, rows, full);
    rec.submit();
    for (const t of [hidden, slotT, rows, pooled, emb]) t.release();
    dev.release();
  }
}

/** Step 3 for one side: each chunk again with its graph, back-propagating its rows of `dFull`. */
function backwardChunks(model: LlamaModel, recipe: Recipe, chunks: Chunk[], dFull: Tensor): void {
  const gpu = model.gpu;
  const H = model.shape.hiddenSize;
  for (const chunk of chunks) {
    const n = chunk.batch.batch;
    const pass = embedTrain(model, recipe, chunk.batch, chunk.seed);
    const rows = gpu.tensor('i32', [n], chunk.rows, { label: 'gc.rows' });
    const dEmb = gpu.tensor('f32', [n, H], undefined, { label: 'gc.demb' });
    const rec = gpu.recorder();
    gatherRows(rec, dFull, rows, dEmb);
    rec.submit();
    backwardEmbeddings(model, pass, dEmb);
    rows.release();
    dEmb.release();
  }
}

/**
 * The contrastive step with GradCache: the same loss and gradients as `plainContrastiveStep` (up to
 * float rounding and padding), with at most `chunkSize` sequences' training state alive at a time.
 */
export async function gradCacheStep(
  model: LlamaModel,
  recipe: Recipe,
  queries: readonly Layout[],
  passages: readonly Layout[],
  o: ContrastiveOptions & { chunkSize: number },
): Promise<ContrastiveResult> {
  checkGroups(queries.length, passages.length, o.groupSize);
  if (!Number.isInteger(o.chunkSize) || o.chunkSize < 1)
    throw new Error(`The GradCache chunk size must be a positive integer, got ${o.chunkSize}.`);
  const gpu = model.gpu;
  const H = model.shape.hiddenSize;
  const B = queries.length;
  const qChunks = planChunks(recipe, queries, o.chunkSize, o.seed, 0);
  const pChunks = planChunks(recipe, passages, o.chunkSize, o.seed, 1);
  const q = gpu.tensor('f32', [B, H], undefined, { label: 'gc.q' });
  const p = gpu.tensor('f32', [passages.length, H], undefined, { label: 'gc.p' });
  embedChunks(model, recipe, qChunks, q);
  embedChunks(model, recipe, pChunks, p);
  const nce = infoNceOnDevice(gpu, q, p, { queries: B, groupSize: o.groupSize, dim: H, tau: o.tau });
  const inspect = o.inspect
    ? {
        q: (await gpu.read(q)) as Float32Array,
        p: (await gpu.read(p)) as Float32Array,
        dq: (await gpu.read(nce.dq)) as Float32Array,
        dp: (await gpu.read(nce.dp)) as Float32Array,
      }
    : undefined;
  // The embeddings are no longer needed: only their gradients travel on.
  q.release();
  p.release();
  backwardChunks(model, recipe, pChunks, nce.dp);
  backwardChunks(model, recipe, qChunks, nce.dq);
  const loss = await readLoss(gpu, nce.loss);
  nce.release();
  return { loss, tokens: realTokens(queries) + realTokens(passages), ...(inspect ? { inspect } : {}) };
}
