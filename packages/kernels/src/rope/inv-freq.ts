/** How positions are stretched; only linear scaling is supported, anything else is refused by name. */
export type RopeScaling = { kind: 'linear'; factor: number } | { kind: string; factor?: number };

export interface RopeOptions {
  numHeads: number;
  headDim: number;
  /** rope_theta (10000 for LLaMA-2). */
  theta: number;
  scaling?: RopeScaling;
}

/** Largest head dimension the kernel takes (its inverse frequencies travel in a uniform block). */
export const ROPE_MAX_HEAD_DIM = 256;

/**
 * HF's `inv_freq` in f32, as LlamaRotaryEmbedding computes it:
 *   1 / theta ** (float32(arange(0, headDim, 2)) / headDim)
 * each step rounded to f32, and divided by `factor` for linear scaling (transformers' current
 * `inv_freq /= factor`, equivalent to dividing positions by it). PyTorch's pow can differ from the
 * correctly rounded one here by 1 ulp for a few (theta, headDim, i) combinations.
 */
export function ropeInvFreq(o: RopeOptions): Float32Array {
  const { headDim, theta } = o;
  if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0 || headDim > ROPE_MAX_HEAD_DIM) {
    throw new Error(
      `RoPE head dimension ${headDim} is not supported (an even number from 2 to ${ROPE_MAX_HEAD_DIM}).`,
    );
  }
  if (!(theta > 0) || !Number.isFinite(theta))
    throw new Error(`RoPE theta ${theta} must be a positive number.`);
  const factor = scalingFactor(o.scaling);
  const out = new Float32Array(headDim / 2);
  for (let i = 0; i < out.length; i++) {
    const exponent = Math.fround(Math.fround(2 * i) / headDim);
    const inv = Math.fround(1 / Math.fround(Math.fround(theta) ** exponent));
    out[i] = factor === 1 ? inv : Math.fround(inv / factor);
  }
  return out;
}

function scalingFactor(s: RopeScaling | undefined): number {
  if (!s) return 1;
  if (s.kind !== 'linear') throw new Error(`RoPE scaling "${s.kind}" is not supported (only "linear" is).`);
  const f = s.factor;
  if (typeof f !== 'number' || !(f > 0) || !Number.isFinite(f)) {
    throw new Error(`Linear RoPE scaling needs a positive factor, but it is ${f}.`);
  }
  return f;
}
