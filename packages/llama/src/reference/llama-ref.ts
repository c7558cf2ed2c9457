/**
 * The LLaMA forward pass in plain loops: the model-level specification every GPU graph is checked
 * against. It follows HF `LlamaForCausalLM` (transformers 4.x/5.x, eager attention):
 *
 *   x = embed[ids]
 *   per layer:  n = rmsnorm(x) * w_in;  q, k, v = n Wq^T, n Wk^T, n Wv^T   (+ LoRA)
 *               q, k = rope(q, pos), rope(k, pos)     HF rotate_half: pairs (d, d + headDim/2)
 *               a = softmax(q k^T / sqrt(headDim) + mask) v   (GQA: head h reads kv head h / (H / Hkv))
 *               x = x + a Wo^T;  n = rmsnorm(x) * w_post;  x = x + (silu(n Wg^T) * (n Wu^T)) Wd^T
 *   out = rmsnorm(x) * w_final                               -> [B, T, hidden]
 *   rmsnorm(x) = x / sqrt(mean(x^2) + eps);  LoRA: y += scale * (x A^T) B^T, no dropout.
 *
 * Sums and intermediates are f64. RoPE angles are formed in f32 exactly as HF does (inv_freq =
 * 1 / theta^(2i/d) and position * inv_freq rounded to f32), so long positions agree with transformers;
 * cos/sin of that angle are taken in f64. The mask is a `MaskDescription`; a query row that sees no key
 * (padding) gets a zero attention output (HF instead averages all values there), which keeps every
 * output finite. Layout: tokens row-major [B * T], hidden states [B * T, hidden].
 *
 * @example
 * const hidden = llamaForwardRef(config, weights, { ids, positions, mask: paddedCausalMask(T, [T], 'right') });
 * const logits = logitsAt(config, weights, hidden, [T - 1]); // [1, vocab]
 */
import { type MaskDescription, maskAllows } from '@llara/kernels';
import type { LlamaConfig } from '../config.ts';
import { type LoraTarget, type LoraWeights, loraScale } from '../peft.ts';

/** Weights by HF tensor name, as f32 values. */
export type RefWeights = ReadonlyMap<string, Float32Array>;

export interface LlamaRefInputs {
  /** [B * T] token ids. */
  ids: ArrayLike<number>;
  /** [B * T] position ids (explicit: LLaRA reuses positions). */
  positions: ArrayLike<number>;
  mask: MaskDescription;
}

export interface LlamaRefOptions {
  lora?: LoraWeights;
  /** Observes intermediate values (`layers.{l}.attn`, `layers.{l}.out`, `embed`), for debugging a graph. */
  trace?: (what: string, values: Float64Array) => void;
}

function weight(weights: RefWeights, name: string, length: number): Float32Array {
  const w = weights.get(name);
  if (!w) throw new Error(`The reference forward needs tensor ${name}, which the weights lack.`);
  if (w.length !== length)
    throw new Error(`Tensor ${name} has ${w.length} values but the config implies ${length}.`);
  return w;
}

/** RoPE inverse frequencies for pair index i < headDim/2, rounded to f32 as HF computes them. */
export function ropeInvFreq(theta: number, headDim: number): Float32Array {
  const half = headDim / 2;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) out[i] = 1 / Math.fround(theta ** Math.fround((2 * i) / headDim));
  return out;
}

/** y[n, out] = x[n, in] W^T with W [out, in]. */
function linear(x: Float64Array, n: number, inDim: number, w: Float32Array, outDim: number): Float64Array {
  const y = new Float64Array(n * outDim);
  for (let r = 0; r < n; r++) {
    const xo = r * inDim;
    for (let o = 0; o < outDim; o++) {
      const wo = o * inDim;
      let s = 0;
      for (let k = 0; k < inDim; k++) s += x[xo + k] * w[wo + k];
      y[r * outDim + o] = s;
    }
  }
  return y;
}

/** y += scale * (x A^T) B^T for a LoRA target, if the adapter has it. */
function addLora(
  y: Float64Array,
  x: Float64Array,
  n: number,
  lora: LoraWeights | undefined,
  layer: number,
  target: LoraTarget,
): void {
  const m = lora?.layers[layer]?.[target];
  if (!lora || !m) return;
  const r = lora.config.r;
  const t = linear(x, n, m.inDim, m.A, r);
  const u = linear(t, n, r, m.B, m.outDim);
  const scale = loraScale(lora.config);
  for (let k = 0; k < y.length; k++) y[k] += scale * u[k];
}

function rmsNorm(x: Float64Array, n: number, h: number, w: Float32Array, eps: number): Float64Array {
  const y = new Float64Array(n * h);
  for (let r = 0; r < n; r++) {
    let ss = 0;
    for (let k = 0; k < h; k++) ss += x[r * h + k] * x[r * h + k];
    const inv = 1 / Math.sqrt(ss / h + eps);
    for (let k = 0; k < h; k++) y[r * h + k] = x[r * h + k] * inv * w[k];
  }
  return y;
}

/** Rotates each head of x [n, heads * headDim] in place by its token's position (HF rotate_half). */
function applyRope(
  x: Float64Array,
  n: number,
  heads: number,
  headDim: number,
  positions: ArrayLike<number>,
  invFreq: Float32Array,
): void {
  const half = headDim / 2;
  for (let r = 0; r < n; r++) {
    const pos = positions[r];
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(pos * invFreq[i]);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      for (let hh = 0; hh < heads; hh++) {
        const o = r * heads * headDim + hh * headDim;
        const a = x[o + i];
        const b = x[o + i + half];
        x[o + i] = a * c - b * s;
        x[o + i + half] = b * c + a * s;
      }
    }
  }
}

/** Final post-norm hidden states [B * T, hidden] of the LLaMA forward (see the file comment), as f32. */
export function llamaForwardRef(
  config: LlamaConfig,
  weights: RefWeights,
  inputs: LlamaRefInputs,
  options: LlamaRefOptions = {},
): Float32Array {
  return Float32Array.from(llamaForwardRefF64(config, weights, inputs, options));
}

/** `llamaForwardRef` before the final rounding to f32 (for checks tighter than f32). */
export function llamaForwardRefF64(
  config: LlamaConfig,
  weights: RefWeights,
  inputs: LlamaRefInputs,
  options: LlamaRefOptions = {},
): Float64Array {
  const { mask } = inputs;
  const B = mask.batch;
  const T = mask.seqLen;
  const N = B * T;
  if (inputs.ids.length !== N || inputs.positions.length !== N)
    throw new Error(
      `The reference forward got ${inputs.ids.length} ids and ${inputs.positions.length} positions for a ${B} x ${T} batch.`,
    );
  const H = config.hiddenSize;
  const D = config.headDim;
  const nH = config.numHeads;
  const nKv = config.numKvHeads;
  const qDim = nH * D;
  const kvDim = nKv * D;
  const I = config.intermediateSize;
  const V = config.vocabSize;
  const eps = config.rmsNormEps;
  const lora = options.lora;
  const trace = options.trace;

  const embed = weight(weights, 'model.embed_tokens.weight', V * H);
  let x = new Float64Array(N * H);
  for (let r = 0; r < N; r++) {
    const id = inputs.ids[r];
    if (!(Number.isInteger(id) && id >= 0 && id < V))
      throw new Error(`Token id ${id} at slot ${r} is outside the vocabulary of ${V}.`);
    for (let k = 0; k < H; k++) x[r * H + k] = embed[id * H + k];
  }
  trace?.('embed', x);

  const invFreq = ropeInvFreq(config.ropeTheta, D);
  const scale = 1 / Math.sqrt(D);
  const group = nH / nKv;
  const scores = new Float64Array(T);

  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const n1 = rmsNorm(x, N, H, weight(weights, `${p}input_layernorm.weight`, H), eps);
    const q = linear(n1, N, H, weight(weights, `${p}self_attn.q_proj.weight`, qDim * H), qDim);
    addLora(q, n1, N, lora, l, 'q_proj');
    const k = linear(n1, N, H, weight(weights, `${p}self_attn.k_proj.weight`, kvDim * H), kvDim);
    addLora(k, n1, N, lora, l, 'k_proj');
    const v = linear(n1, N, H, weight(weights, `${p}self_attn.v_proj.weight`, kvDim * H), kvDim);
    addLora(v, n1, N, lora, l, 'v_proj');
    applyRope(q, N, nH, D, inputs.positions, invFreq);
    applyRope(k, N, nKv, D, inputs.positions, invFreq);

    const attn = new Float64Array(N * qDim);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < nH; h++) {
        const kvh = Math.floor(h / group);
        for (let i = 0; i < T; i++) {
          const qo = (b * T + i) * qDim + h * D;
          let max = Number.NEGATIVE_INFINITY;
          for (let j = 0; j < T; j++) {
            if (!maskAllows(mask, b, i, j)) {
              scores[j] = Number.NEGATIVE_INFINITY;
              continue;
            }
            const ko = (b * T + j) * kvDim + kvh * D;
            let s = 0;
            for (let d = 0; d < D; d++) s += q[qo + d] * k[ko + d];
            scores[j] = s * scale;
            if (scores[j] > max) max = scores[j];
          }
          if (max === Number.NEGATIVE_INFINITY) continue; // sees no key: output stays zero
          let sum = 0;
          for (let j = 0; j < T; j++) {
            scores[j] = scores[j] === Number.NEGATIVE_INFINITY ? 0 : Math.exp(scores[j] - max);
            sum += scores[j];
          }
          for (let j = 0; j < T; j++) {
            if (scores[j] === 0) continue;
            const pj = scores[j] / sum;
            const vo = (b * T + j) * kvDim + kvh * D;
            for (let d = 0; d < D; d++) attn[qo + d] += pj * v[vo + d];
          }
        }
      }
    }
    const o = linear(attn, N, qDim, weight(weights, `${p}self_attn.o_proj.weight`, H * qDim), H);
    addLora(o, attn, N, lora, l, 'o_proj');
    for (let t = 0; t < x.length; t++) x[t] += o[t];
    trace?.(`layers.${l}.attn`, x);

    const n2 = rmsNorm(x, N, H, weight(weights, `${p}post_attention_layernorm.weight`, H), eps);
    const g = linear(n2, N, H, weight(weights, `${p}mlp.gate_proj.weight`, I * H), I);
    addLora(g, n2, N, lora, l, 'gate_proj');
    const u = linear(n2, N, H, weight(weights, `${p}mlp.up_proj.weight`, I * H), I);
    addLora(u, n2, N, lora, l, 'up_proj');
    for (let t = 0; t < g.length; t++) g[t] = (g[t] / (1 + Math.exp(-g[t]))) * u[t];
    const d = linear(g, N, I, weight(weights, `${p}mlp.down_proj.weight`, H * I), H);
    addLora(d, g, N, lora, l, 'down_proj');
    const next = new Float64Array(N * H);
    for (let t = 0; t < x.length; t++) next[t] = x[t] + d[t];
    x = next;
    trace?.(`layers.${l}.out`, x);
  }
  return rmsNorm(x, N, H, weight(weights, 'model.norm.weight', H), eps);
}

/**
 * Logits [rows.length, vocab] at the given rows of `hidden` [*, hidden] (f64 sums): the LM head, or the
 * embedding when tied.
 */
export function logitsAt(
  config: LlamaConfig,
  weights: RefWeights,
  hidden: ArrayLike<number>,
  rows: readonly number[],
): Float32Array {
  const H = config.hiddenSize;
  const V = config.vocabSize;
  const head = weight(
    weights,
    config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight',
    V * H,
  );
  const out = new Float32Array(rows.length * V);
  rows.forEach((r, k) => {
    if (!(Number.isInteger(r) && r >= 0 && (r + 1) * H <= hidden.length))
      throw new Error(`logitsAt: row ${r} is outside the hidden states.`);
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let c = 0; c < H; c++) s += hidden[r * H + c] * head[v * H + c];
      out[k * V + v] = s;
    }
  });
  return out;
}
