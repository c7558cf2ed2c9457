/** The frozen base weights on the device, in the dtype they were stored in (f32, f16 or bf16). */
import type { Tensor } from '@llara/gpu';

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
  /** [vocab, hidden], including appended rows for added tokens. */
  embed: Tensor;
  layers: LayerWeights[];
  norm: Tensor;
  /** [vocab, hidden]; the same tensor as `embed` when the model ties them. */
  lmHead: Tensor;
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

export function releaseWeights(w: LlamaWeights): void {
  const seen = new Set<Tensor>();
  const all = [w.embed, w.norm, w.lmHead, ...w.layers.flatMap((l) => Object.values(l))];
  for (const t of all) {
    if (seen.has(t)) continue;
    seen.add(t);
    t.release();
  }
}
