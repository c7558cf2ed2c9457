/**
 * Text -> L2-normalised embeddings with a recipe's prompts and pooling (flag: mean of the 8 special
 * positions; paper and repllama: the `</s>` position), batched by length. Works in Node and browsers.
 *
 * ```ts
 * const embedder = new Embedder(model, tokenizer, getRecipe('flag'), { maxLen: 256, baseVocab: 512 });
 * const vectors = await embedder.embed(['what is a wing?'], 'query'); // Float32Array [1 * hidden]
 * ```
 */
import type { Tensor } from '@llara/gpu';
import { l2Normalize, meanPool } from '@llara/kernels';
import type { LlamaModel } from '@llara/llama';
import { batchForRecipe, sortByLength } from './batch.ts';
import { type Layout, type Passage, passageLayout, queryLayout, type TokenizerLike } from './layout.ts';
import type { Recipe } from './recipes.ts';

export type Role = 'query' | 'passage';

export interface EmbedderOptions {
  maxLen: number;
  /** Sequences per forward pass. */
  batchSize?: number;
  /** Vocabulary without the recipe's added tokens (flag's specials are placed after it). */
  baseVocab?: number;
}

export interface EmbedProgress {
  done: number;
  total: number;
  tokens: number;
}

export class Embedder {
  readonly dim: number;

  constructor(
    readonly model: LlamaModel,
    readonly tokenizer: TokenizerLike,
    readonly recipe: Recipe,
    readonly options: EmbedderOptions,
  ) {
    this.dim = model.shape.hiddenSize;
  }

  layout(item: string | Passage, role: Role): Layout {
    const opts = { maxLen: this.options.maxLen, baseVocab: this.options.baseVocab };
    if (role === 'query')
      return queryLayout(this.recipe, this.tokenizer, typeof item === 'string' ? item : item.text, opts);
    return passageLayout(this.recipe, this.tokenizer, item, opts);
  }

  /** Embeddings in input order, row-major [items.length, hidden]. */
  async embed(
    items: (string | Passage)[],
    role: Role,
    onProgress?: (p: EmbedProgress) => void,
  ): Promise<Float32Array> {
    const H = this.dim;
    const out = new Float32Array(items.length * H);
    const layouts = items.map((it) => this.layout(it, role));
    const { order } = sortByLength(layouts.map((l) => l.ids.length));
    const size = this.options.batchSize ?? 16;
    let tokens = 0;
    for (let start = 0; start < order.length; start += size) {
      const idx = order.slice(start, start + size);
      const rows = await this.embedLayouts(idx.map((i) => layouts[i]));
      idx.forEach((item, r) => {
        out.set(rows.subarray(r * H, (r + 1) * H), item * H);
        tokens += layouts[item].ids.length;
      });
      onProgress?.({ done: Math.min(start + size, order.length), total: order.length, tokens });
    }
    return out;
  }

  /** One padded batch through the model, pooled and normalised: [layouts.length, hidden]. */
  async embedLayouts(layouts: Layout[]): Promise<Float32Array> {
    const gpu = this.model.gpu;
    const H = this.dim;
    const batch = batchForRecipe(this.recipe, layouts);
    const slots = batch.readout.embed;
    const P = batch.readoutPerRow.embed;
    if (!slots || !P) throw new Error(`Recipe "${this.recipe.name}" defines no embedding read-out.`);
    const dev = this.model.upload(batch);
    const hidden = this.model.forward(dev);
    const B = layouts.length;
    const tmp: Tensor[] = [];
    const rows = gpu.tensor('i32', [slots.length], slots, { label: 'embed.rows' });
    const pooled = gpu.tensor('f32', [B, H], undefined, { label: 'embed.pooled' });
    const normed = gpu.tensor('f32', [B, H], undefined, { label: 'embed.normed' });
    tmp.push(rows, pooled, normed, hidden);
    const rec = gpu.recorder();
    meanPool(rec, hidden, rows, pooled, { groups: B, positions: P, dim: H });
    l2Normalize(rec, pooled, normed, { rows: B, dim: H });
    rec.submit();
    const result = (await gpu.read(normed)) as Float32Array;
    for (const t of tmp) t.release();
    dev.release();
    return result;
  }
}
