/**
 * A projection y = x W^T with an optional LoRA branch, forward and backward. W is frozen (any dtype,
 * q8/q4/nf4 included: QLoRA's gradients flow through the dequantized weights);
 * the LoRA gradients accumulate (beta 1) so gradient accumulation over micro-batches is free.
 */
import type { Recorder, Tensor } from '@llara/gpu';
import { axpy, dropout, matmul, matmulScaledA } from '@llara/kernels';
import type { LoraPair } from './lora-gpu.ts';

export interface LoraContext {
  pair: LoraPair;
  scale: number;
  dropout: number;
  /** Seed of this projection's dropout mask for this step (same in forward, recompute and backward). */
  seed: number;
}

/** What backward needs from the forward: the LoRA hidden h = dropout(x) A^T. */
export interface LinearSaved {
  h: Tensor | null;
}

export function linearForward(
  rec: Recorder,
  x: Tensor,
  w: Tensor,
  y: Tensor,
  tokens: number,
  lora: LoraContext | null,
): LinearSaved {
  const [outDim, inDim] = w.shape;
  matmul(rec, x, w, y, { M: tokens, N: outDim, K: inDim, transB: true });
  if (!lora) return { h: null };
  const { pair, scale } = lora;
  const r = pair.A.shape[0];
  const xd = dropped(rec, x, lora);
  const h = rec.gpu.tensor('f32', [tokens, r], undefined, { label: 'lora.h' });
  matmul(rec, xd, pair.A, h, { M: tokens, N: r, K: inDim, transB: true });
  matmul(rec, h, pair.B, y, { M: tokens, N: outDim, K: r, transB: true, alpha: scale, beta: 1 });
  if (xd !== x) xd.release();
  return { h };
}

/**
 * dx (=, or += with `accumulate`) dy W, and the LoRA gradients gA, gB (+=).
 * `x` is the projection's input as in the forward. `inputGradient` 'f16' lets dy W run on tensor cores
 * (f16 weights on a device with subgroup matrices) with dy rescaled by a power of two first, since f16
 * dy would underflow (`matmulScaledA`); 'f32' keeps the f32 kernels.
 */
export function linearBackward(
  rec: Recorder,
  x: Tensor,
  w: Tensor,
  dy: Tensor,
  dx: Tensor,
  tokens: number,
  lora: LoraContext | null,
  saved: LinearSaved,
  accumulate: boolean,
  inputGradient: 'f16' | 'f32' = 'f32',
): void {
  const [outDim, inDim] = w.shape;
  const o = { M: tokens, N: inDim, K: outDim, transB: false, beta: accumulate ? (1 as const) : (0 as const) };
  // Quantized bases too: the tensor-core kernel decodes their blocks as it loads W.
  if (inputGradient === 'f16') matmulScaledA(rec, dy, w, dx, o);
  else matmul(rec, dy, w, dx, { ...o, precision: 'f32' });
  if (!lora || !saved.h) return;
  const { pair, scale } = lora;
  const r = pair.A.shape[0];
  // gB += scale * dy^T h
  matmul(rec, dy, saved.h, pair.gB, { M: outDim, N: r, K: tokens, transA: true, alpha: scale, beta: 1 });
  // dh = scale * dy B
  const dh = rec.gpu.tensor('f32', [tokens, r], undefined, { label: 'lora.dh' });
  matmul(rec, dy, pair.B, dh, { M: tokens, N: r, K: outDim, alpha: scale });
  // gA += dh^T dropout(x)
  const xd = dropped(rec, x, lora);
  matmul(rec, dh, xd, pair.gA, { M: r, N: inDim, K: tokens, transA: true, beta: 1 });
  if (xd !== x) xd.release();
  if (lora.dropout === 0) {
    matmul(rec, dh, pair.A, dx, { M: tokens, N: inDim, K: r, beta: 1 });
  } else {
    // dropout's backward is the same mask applied to the gradient (storage bindings cannot alias).
    const t = rec.gpu.tensor('f32', [tokens, inDim], undefined, { label: 'lora.dxd' });
    const td = rec.gpu.tensor('f32', [tokens, inDim], undefined, { label: 'lora.dxd.masked' });
    matmul(rec, dh, pair.A, t, { M: tokens, N: inDim, K: r });
    dropout(rec, t, td, { p: lora.dropout, seed: lora.seed });
    axpy(rec, 1, td, dx);
    t.release();
    td.release();
  }
  dh.release();
}

function dropped(rec: Recorder, x: Tensor, lora: LoraContext): Tensor {
  if (lora.dropout === 0) return x;
  const xd = rec.gpu.tensor('f32', x.shape, undefined, { label: 'lora.xd' });
  dropout(rec, x, xd, { p: lora.dropout, seed: lora.seed });
  return xd;
}
