/** The frozen base weights on the device, in the dtype they were stored in (f32, f16 or bf16). */
import type { Tensor } from '@llara/gpu';
import type { RowSplit } from './row-split.ts';

export interface LayerWeights {
  inputNorm: Tensor;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  o: Tensor;
  postNorm: Tensor;
  gate: Tensor;
  up: Tensor;
  down: Tensor;
}

export interface LlamaWeights {
  /** [vocab, hidden], including appended rows for added tokens; split by rows if it exceeds a binding. */
  embed: RowSplit;
  layers: LayerWeights[];
  norm: Tensor;
  /** [vocab, hidden]; the same object as `embed` when the model ties them. */
  lmHead: RowSplit;
}

/** HF tensor name of each per-layer weight. */
export const LAYER_TENSORS: Record<keyof LayerWeights, string> = {
  inputNorm: 'input_layernorm.weight',
  q: 'self_attn.q_proj.weight',
  k: 'self_attn.k_proj.weight',
  v: 'self_attn.v_proj.weight',
  o: 'self_attn.o_proj.weight',
  postNorm: 'post_attention_layernorm.weight',
  gate: 'mlp.gate_proj.weight',
  up: 'mlp.up_proj.weight',
  down: 'mlp.down_proj.weight',
};

/** Every device tensor of the weights, once each (tied embeddings are one). */
export function weightTensors(w: LlamaWeights): Tensor[] {
  const heads = w.lmHead === w.embed ? [w.embed] : [w.embed, w.lmHead];
  return [
    ...heads.flatMap((h) => h.parts.map((p) => p.tensor)),
    w.norm,
    ...w.layers.flatMap((l) => Object.values(l)),
  ];
}

export function releaseWeights(w: LlamaWeights): void {
  for (const t of weightTensors(w)) t.release();
}
