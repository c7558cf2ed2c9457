/**
 * CPU references (float64) of the training losses with their gradients: the specification the GPU
 * loss kernels are checked against. Plain loops, no tricks beyond the usual max-shift in softmax.
 *
 * Shapes are row-major; `logits` at the read-out positions are [B, K, V] (K = 8 for flag, 1 for paper),
 * token logits for AR are [N, V], embeddings are [rows, d].
 *
 * @example
 * const { loss, grad } = flagBowLossRef(logits, { B: 2, K: 8, V: 32016 }, [[29871, 450], [1494]]);
 */
import { IGNORE_INDEX } from './layout.ts';
import type { BowLossSpec } from './recipes.ts';

export interface LossResult {
  loss: number;
  /** d loss / d input, same shape as the input. */
  grad: Float64Array;
}

function logSoftmax(x: ArrayLike<number>, offset: number, n: number, out: Float64Array): void {
  let max = Number.NEGATIVE_INFINITY;
  for (let v = 0; v < n; v++) max = Math.max(max, x[offset + v]);
  let sum = 0;
  for (let v = 0; v < n; v++) sum += Math.exp(x[offset + v] - max);
  const lse = max + Math.log(sum);
  for (let v = 0; v < n; v++) out[v] = x[offset + v] - lse;
}

/** The target ids a bag-of-words loss uses: ids > 2 (no pad/unk, BOS, EOS), as a sorted set when `unique`. */
export function bowTargetSet(targets: readonly number[], unique: boolean): number[] {
  const kept = targets.filter((t) => t > 2);
  return unique ? [...new Set(kept)].sort((a, b) => a - b) : kept;
}

/**
 * Bag-of-words loss of one task over a batch, as a recipe's `BowLossSpec` says:
 * per row, pool the K read-out logit vectors (max per vocabulary entry, or the single one), take
 * log-softmax over the vocabulary, loss_row = -scale * mean over targets of logp[t]; the batch loss is
 * the mean over rows that have targets (rows without any are skipped, as released). The gradient flows
 * to the argmax position of each vocabulary entry (the first one on ties, like torch.max).
 */
export function bowLossRef(
  logits: ArrayLike<number>,
  shape: { B: number; K: number; V: number },
  targets: readonly (readonly number[])[],
  spec: Pick<BowLossSpec, 'pool' | 'unique' | 'scale'>,
): LossResult & { perRow: (number | null)[] } {
  const { B, K, V } = shape;
  if (logits.length !== B * K * V) throw new Error(`Expected ${B * K * V} logits, got ${logits.length}.`);
  if (spec.pool === 'single' && K !== 1) throw new Error(`Single-position pooling needs K = 1, got ${K}.`);
  const grad = new Float64Array(B * K * V);
  const perRow: (number | null)[] = [];
  const pooled = new Float64Array(V);
  const argmax = new Int32Array(V);
  const logp = new Float64Array(V);
  const rows = targets.map((t) => bowTargetSet(t, spec.unique));
  const active = rows.filter((t) => t.length > 0).length;
  let total = 0;
  for (let b = 0; b < B; b++) {
    const T = rows[b];
    if (T.length === 0) {
      perRow.push(null);
      continue;
    }
    for (let v = 0; v < V; v++) {
      let best = logits[b * K * V + v];
      let at = 0;
      for (let k = 1; k < K; k++) {
        const x = logits[(b * K + k) * V + v];
        if (x > best) {
          best = x;
          at = k;
        }
      }
      pooled[v] = best;
      argmax[v] = at;
    }
    logSoftmax(pooled, 0, V, logp);
    let sum = 0;
    for (const t of T) {
      if (t >= V) throw new Error(`Target id ${t} is outside the vocabulary of ${V}.`);
      sum += logp[t];
    }
    const rowLoss = (-spec.scale * sum) / T.length;
    perRow.push(rowLoss);
    total += rowLoss;
    // d rowLoss / d pooled_v = scale * (softmax_v * |T| - count_v) / |T|; the batch mean divides by `active`.
    const w = spec.scale / (T.length * active);
    for (let v = 0; v < V; v++) grad[(b * K + argmax[v]) * V + v] += w * T.length * Math.exp(logp[v]);
    for (const t of T) grad[(b * K + argmax[t]) * V + t] -= w;
  }
  return { loss: active > 0 ? total / active : 0, grad, perRow };
}

/** flag: max over the 8 special positions, unique targets, /10. */
export function flagBowLossRef(
  logits: ArrayLike<number>,
  shape: { B: number; K: number; V: number },
  targets: readonly (readonly number[])[],
): LossResult & { perRow: (number | null)[] } {
  return bowLossRef(logits, shape, targets, { pool: 'max', unique: true, scale: 0.1 });
}

/** paper: the single `</s>` position, -1/|T| sum over the target's tokens (repeats count). */
export function paperBowLossRef(
  logits: ArrayLike<number>,
  shape: { B: number; V: number },
  targets: readonly (readonly number[])[],
): LossResult & { perRow: (number | null)[] } {
  return bowLossRef(logits, { B: shape.B, K: 1, V: shape.V }, targets, {
    pool: 'single',
    unique: false,
    scale: 1,
  });
}

/**
 * Next-token cross-entropy: `targets[n]` is the id row n's logits must predict, IGNORE_INDEX (-100)
 * for none; the loss is the mean over labelled rows (0 when none is labelled).
 */
export function arLossRef(
  logits: ArrayLike<number>,
  shape: { N: number; V: number },
  targets: ArrayLike<number>,
): LossResult & { count: number } {
  const { N, V } = shape;
  if (logits.length !== N * V) throw new Error(`Expected ${N * V} logits, got ${logits.length}.`);
  if (targets.length !== N) throw new Error(`Expected ${N} targets, got ${targets.length}.`);
  const grad = new Float64Array(N * V);
  let count = 0;
  for (let n = 0; n < N; n++) if (targets[n] !== IGNORE_INDEX) count++;
  if (count === 0) return { loss: 0, grad, count };
  const logp = new Float64Array(V);
  let total = 0;
  for (let n = 0; n < N; n++) {
    const t = targets[n];
    if (t === IGNORE_INDEX) continue;
    if (t < 0 || t >= V) throw new Error(`Target id ${t} is outside the vocabulary of ${V}.`);
    logSoftmax(logits, n * V, V, logp);
    total -= logp[t];
    for (let v = 0; v < V; v++) grad[n * V + v] = Math.exp(logp[v]) / count;
    grad[n * V + t] -= 1 / count;
  }
  return { loss: total / count, grad, count };
}

export interface InfoNceResult {
  loss: number;
  /** [B, columns] scores / tau (columns = B*g with in-batch negatives, else g). */
  logits: Float64Array;
  gradQ: Float64Array;
  gradP: Float64Array;
}

/**
 * InfoNCE over B queries [B, d] and B groups of g passages [B*g, d] (group i = rows i*g .. i*g+g-1,
 * its positive first). Score = q.p / tau. With in-batch negatives every query is scored against all
 * B*g passages and its target is column i*g; without, only against its own group (target 0).
 * Loss = mean over queries of cross-entropy.
 */
export function infoNceRef(
  q: ArrayLike<number>,
  p: ArrayLike<number>,
  shape: { B: number; g: number; d: number },
  tau: number,
  inBatchNegatives = true,
): InfoNceResult {
  const { B, g, d } = shape;
  if (q.length !== B * d || p.length !== B * g * d)
    throw new Error('InfoNCE inputs do not match [B, d] and [B*g, d].');
  const cols = inBatchNegatives ? B * g : g;
  const logits = new Float64Array(B * cols);
  const gradQ = new Float64Array(B * d);
  const gradP = new Float64Array(B * g * d);
  const passageOf = (i: number, c: number) => (inBatchNegatives ? c : i * g + c);
  for (let i = 0; i < B; i++)
    for (let c = 0; c < cols; c++) {
      const r = passageOf(i, c);
      let s = 0;
      for (let k = 0; k < d; k++) s += q[i * d + k] * p[r * d + k];
      logits[i * cols + c] = s / tau;
    }
  const logp = new Float64Array(cols);
  let total = 0;
  for (let i = 0; i < B; i++) {
    const target = inBatchNegatives ? i * g : 0;
    logSoftmax(logits, i * cols, cols, logp);
    total -= logp[target];
    for (let c = 0; c < cols; c++) {
      // d loss / d logit = (softmax - onehot) / B; d logit / d q = p / tau, d logit / d p = q / tau.
      const dl = (Math.exp(logp[c]) - (c === target ? 1 : 0)) / B / tau;
      const r = passageOf(i, c);
      for (let k = 0; k < d; k++) {
        gradQ[i * d + k] += dl * p[r * d + k];
        gradP[r * d + k] += dl * q[i * d + k];
      }
    }
  }
  return { loss: total / B, logits, gradQ, gradP };
}

/** Rows of x [N, d] scaled to unit L2 norm (norms clamped at 1e-12 like torch's normalize). */
export function l2NormalizeRef(x: ArrayLike<number>, shape: { N: number; d: number }): Float64Array {
  const { N, d } = shape;
  const y = new Float64Array(N * d);
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let k = 0; k < d; k++) ss += x[n * d + k] ** 2;
    const norm = Math.max(Math.sqrt(ss), 1e-12);
    for (let k = 0; k < d; k++) y[n * d + k] = x[n * d + k] / norm;
  }
  return y;
}

/** Backward of `l2NormalizeRef`: dx = (dy - y (y . dy)) / |x| (for norms above the clamp). */
export function l2NormalizeBackwardRef(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  shape: { N: number; d: number },
): Float64Array {
  const { N, d } = shape;
  const y = l2NormalizeRef(x, shape);
  const dx = new Float64Array(N * d);
  for (let n = 0; n < N; n++) {
    let ss = 0;
    let dot = 0;
    for (let k = 0; k < d; k++) {
      ss += x[n * d + k] ** 2;
      dot += y[n * d + k] * dy[n * d + k];
    }
    const norm = Math.max(Math.sqrt(ss), 1e-12);
    for (let k = 0; k < d; k++) dx[n * d + k] = (dy[n * d + k] - y[n * d + k] * dot) / norm;
  }
  return dx;
}

/**
 * The pretraining total from its parts, as released: bow = (ebae + ebar) / 2 (flag) or ebae + ebar
 * (paper); total = bow + ar when the recipe has the AR part.
 */
export function combinePretrainLosses(
  spec: Pick<BowLossSpec, 'combine'>,
  parts: { ebae: number; ebar: number; ar?: number | null },
): { bow: number; total: number } {
  const bow = spec.combine === 'mean' ? (parts.ebae + parts.ebar) / 2 : parts.ebae + parts.ebar;
  return { bow, total: bow + (parts.ar ?? 0) };
}
