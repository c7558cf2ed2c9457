/**
 * One LLaMA decoder layer, forward and backward (HF LlamaDecoderLayer):
 *   n1 = rmsnorm(x); q,k,v = n1 Wq^T, n1 Wk^T, n1 Wv^T (+LoRA); rope(q, k); a = attention(q, k, v)
 *   x2 = x + a Wo^T (+LoRA); n2 = rmsnorm(x2); m = silu(n2 Wg^T) * (n2 Wu^T) (+LoRA); out = x2 + m Wd^T (+LoRA)
 * All activations f32 [tokens, features] row-major. Backward propagates into the residual gradient in
 * place (the gradient of the layer output becomes the gradient of its input) and accumulates LoRA
 * gradients.
 */
import type { Recorder, Tensor } from '@llara/gpu';
import {
  add,
  attentionBackward,
  attentionForward,
  type GpuMask,
  rmsnorm,
  rmsnormBackward,
  rope,
  ropeBackward,
  swiglu,
  swigluBackward,
} from '@llara/kernels';
import { type LinearSaved, type LoraContext, linearBackward, linearForward } from './linear.ts';
import type { LoraGpu } from './lora-gpu.ts';
import type { LoraTarget } from './peft.ts';
import type { LlamaShape } from './shape.ts';
import type { LayerWeights } from './weights-gpu.ts';

export interface LayerInputs {
  tokens: number;
  positions: Tensor;
  mask: GpuMask;
  /** Dropout seed base for this step. */
  seed: number;
  /** Training applies LoRA dropout; inference never does. */
  train: boolean;
  /** Attention precision, the same for a forward and its backward (see `LlamaModel.trainingAttention`). */
  attention: 'f16' | 'f32';
  /** Precision of the projections' input gradients dy W (see `LlamaModel.trainingInputGradients`). */
  inputGradients: 'f16' | 'f32';
}

/** Everything the backward needs; `release()` returns it to the pool. */
export interface LayerActs {
  x: Tensor;
  n1: Tensor;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  a: Tensor;
  lse: Tensor;
  x2: Tensor;
  n2: Tensor;
  g: Tensor;
  u: Tensor;
  m: Tensor;
  saved: Partial<Record<LoraTarget, LinearSaved>>;
}

export function releaseActs(acts: LayerActs, keepInput = true): void {
  for (const [k, t] of Object.entries(acts)) {
    if (k === 'saved' || (k === 'x' && keepInput)) continue;
    (t as Tensor).release();
  }
  for (const s of Object.values(acts.saved)) s?.h?.release();
}

function loraContext(
  lora: LoraGpu | null,
  layer: number,
  target: LoraTarget,
  inp: LayerInputs,
): LoraContext | null {
  const pair = lora?.layers[layer]?.[target];
  if (!lora || !pair) return null;
  const index =
    layer * 7 + ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'].indexOf(target);
  return {
    pair,
    scale: lora.scale,
    dropout: inp.train ? lora.dropout : 0,
    seed: (inp.seed * 9973 + index * 7919) >>> 0,
  };
}

/**
 * Runs the layer on `x` [tokens, hidden] and returns its output (a new tensor) and, with `keep`, the
 * activations for backward (otherwise every intermediate is released).
 */
export function layerForward(
  rec: Recorder,
  shape: LlamaShape,
  w: LayerWeights,
  layer: number,
  lora: LoraGpu | null,
  x: Tensor,
  inp: LayerInputs,
  keep: boolean,
): { out: Tensor; acts: LayerActs | null } {
  const gpu = rec.gpu;
  const N = inp.tokens;
  const { hiddenSize: H, intermediateSize: I, numHeads, numKvHeads, headDim } = shape;
  const t = (cols: number, label: string) => gpu.tensor('f32', [N, cols], undefined, { label });
  const ctx = (target: LoraTarget) => loraContext(lora, layer, target, inp);
  const saved: Partial<Record<LoraTarget, LinearSaved>> = {};

  const n1 = t(H, 'n1');
  rmsnorm(rec, x, w.inputNorm, n1, shape.rmsNormEps);
  const q = t(numHeads * headDim, 'q');
  const k = t(numKvHeads * headDim, 'k');
  const v = t(numKvHeads * headDim, 'v');
  saved.q_proj = linearForward(rec, n1, w.q, q, N, ctx('q_proj'));
  saved.k_proj = linearForward(rec, n1, w.k, k, N, ctx('k_proj'));
  saved.v_proj = linearForward(rec, n1, w.v, v, N, ctx('v_proj'));
  rope(rec, q, inp.positions, { numHeads, headDim, theta: shape.ropeTheta });
  rope(rec, k, inp.positions, { numHeads: numKvHeads, headDim, theta: shape.ropeTheta });
  const a = t(numHeads * headDim, 'attn');
  const lse = gpu.tensor('f32', [numHeads, N], undefined, { label: 'lse' });
  attentionForward(rec, q, k, v, a, lse, inp.mask, {
    numHeads,
    numKvHeads,
    headDim,
    precision: inp.attention,
  });
  const o = t(H, 'o');
  saved.o_proj = linearForward(rec, a, w.o, o, N, ctx('o_proj'));
  const x2 = t(H, 'x2');
  add(rec, x, o, x2);
  o.release();
  const n2 = t(H, 'n2');
  rmsnorm(rec, x2, w.postNorm, n2, shape.rmsNormEps);
  const g = t(I, 'gate');
  const u = t(I, 'up');
  saved.gate_proj = linearForward(rec, n2, w.gate, g, N, ctx('gate_proj'));
  saved.up_proj = linearForward(rec, n2, w.up, u, N, ctx('up_proj'));
  const m = t(I, 'mlp');
  swiglu(rec, g, u, m);
  const d = t(H, 'down');
  saved.down_proj = linearForward(rec, m, w.down, d, N, ctx('down_proj'));
  const out = t(H, 'layer.out');
  add(rec, x2, d, out);
  d.release();
  const acts: LayerActs = { x, n1, q, k, v, a, lse, x2, n2, g, u, m, saved };
  if (keep) return { out, acts };
  releaseActs(acts);
  return { out, acts: null };
}

/** dRes holds d(loss)/d(layer output) on entry and d(loss)/d(layer input) on return. */
export function layerBackward(
  rec: Recorder,
  shape: LlamaShape,
  w: LayerWeights,
  layer: number,
  lora: LoraGpu | null,
  acts: LayerActs,
  dRes: Tensor,
  inp: LayerInputs,
): void {
  const gpu = rec.gpu;
  const N = inp.tokens;
  const { hiddenSize: H, intermediateSize: I, numHeads, numKvHeads, headDim } = shape;
  const t = (cols: number, label: string) => gpu.tensor('f32', [N, cols], undefined, { label });
  // dx (=, or += with `accumulate`) = dy W of projection `target`, and its LoRA gradients.
  const back = (target: LoraTarget, x: Tensor, weight: Tensor, dy: Tensor, dx: Tensor, accumulate: boolean) =>
    linearBackward(
      rec,
      x,
      weight,
      dy,
      dx,
      N,
      loraContext(lora, layer, target, inp),
      acts.saved[target]!,
      accumulate,
      inp.inputGradients,
    );

  // MLP branch: out = x2 + down(swiglu(gate(n2), up(n2)))
  const dm = t(I, 'd.mlp');
  back('down_proj', acts.m, w.down, dRes, dm, false);
  const dg = t(I, 'd.gate');
  const du = t(I, 'd.up');
  swigluBackward(rec, acts.g, acts.u, dm, dg, du);
  dm.release();
  const dn2 = t(H, 'd.n2');
  back('gate_proj', acts.n2, w.gate, dg, dn2, false);
  back('up_proj', acts.n2, w.up, du, dn2, true);
  dg.release();
  du.release();
  rmsnormBackward(rec, acts.x2, w.postNorm, dn2, dRes, shape.rmsNormEps, true);
  dn2.release();

  // Attention branch: x2 = x + o(attention(rope(q(n1)), rope(k(n1)), v(n1)))
  const da = t(numHeads * headDim, 'd.attn');
  back('o_proj', acts.a, w.o, dRes, da, false);
  const dq = t(numHeads * headDim, 'd.q');
  const dk = t(numKvHeads * headDim, 'd.k');
  const dv = t(numKvHeads * headDim, 'd.v');
  // The backward recomputes the scores against the forward's lse, so it runs in the forward's precision.
  attentionBackward(rec, acts.q, acts.k, acts.v, acts.a, da, acts.lse, dq, dk, dv, inp.mask, {
    numHeads,
    numKvHeads,
    headDim,
    precision: inp.attention,
  });
  da.release();
  ropeBackward(rec, dq, inp.positions, { numHeads, headDim, theta: shape.ropeTheta });
  ropeBackward(rec, dk, inp.positions, { numHeads: numKvHeads, headDim, theta: shape.ropeTheta });
  const dn1 = t(H, 'd.n1');
  back('q_proj', acts.n1, w.q, dq, dn1, false);
  back('k_proj', acts.n1, w.k, dk, dn1, true);
  back('v_proj', acts.n1, w.v, dv, dn1, true);
  dq.release();
  dk.release();
  dv.release();
  rmsnormBackward(rec, acts.x, w.inputNorm, dn1, dRes, shape.rmsNormEps, true);
  dn1.release();
}
