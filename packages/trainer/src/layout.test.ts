import { readFileSync } from 'node:fs';
import { denseMask } from '@llara/kernels';
import type { LlamaTokenizer } from '@llara/llama';
import { describe, expect, it } from 'vitest';
import { batchForRecipe, batchLayouts, chunks, pretextArrays, sortByLength } from './batch.ts';
import { parsePretrainJsonl } from './data.ts';
import {
  IGNORE_INDEX,
  type Layout,
  passageLayout,
  pretrainLayout,
  queryLayout,
  recipeTokens,
  type TokenizerLike,
} from './layout.ts';
import { arLossRef, bowLossRef, combinePretrainLosses } from './losses.ref.ts';
import { flagSpecialIds, getRecipe } from './recipes.ts';
import { testTokenizer } from './test-tokenizer.ts';

const GOLDEN_DIR = '../../../data/goldens/llara-flag-stories260K/';
const golden = JSON.parse(readFileSync(new URL(`${GOLDEN_DIR}golden.json`, import.meta.url), 'utf8'));
const goldenRows = parsePretrainJsonl(
  readFileSync(new URL(`${GOLDEN_DIR}data.jsonl`, import.meta.url), 'utf8'),
  'data.jsonl',
);
// The real tokenizer must fit the interface the trainer depends on (checked by tsc).
export const tokenizerFits = (t: LlamaTokenizer): TokenizerLike => t;

const flag = getRecipe('flag');
const paper = getRecipe('paper');
const repllama = getRecipe('repllama');

const RELEASED_EBAE_SUFFIX = [9162, 19138, 675, 278, 2038, 13382, 2629, 9475, 3838, 29901, 29871];
const RELEASED_EBAR_SUFFIX = [9162, 8500, 278, 1494, 13382, 2629, 9475, 3838, 29901, 29871];
const S1_8 = [32008, 32011, 32004, 32013, 32007, 32005, 32002, 32014];
const S9_16 = [32000, 32009, 32012, 32001, 32010, 32003, 32006, 32015];

const uniqueAbove2 = (ids: number[]) => [...new Set(ids.filter((i) => i > 2))].sort((a, b) => a - b);

describe('flag layout on the stories260K golden', () => {
  const tok = testTokenizer('stories260K');
  const layout = pretrainLayout(flag, tok, goldenRows[0], { maxLen: 512 });

  it('reproduces the golden ids and position ids exactly', () => {
    expect(tok.vocabSize).toBe(512);
    expect(layout.ids).toEqual(golden.ids);
    expect(layout.positionIds).toEqual(golden.position_ids);
  });

  it('puts the pieces where the golden says', () => {
    const rt = recipeTokens(flag, tok);
    expect(rt.prefix).toEqual(golden.prefix_ids);
    expect(rt.suffix.ebae).toEqual([...golden.ebae_suffix_ids_before_specials, ...golden.special_ids.s1_8]);
    expect(rt.suffix.ebar).toEqual([...golden.ebar_suffix_ids_before_specials, ...golden.special_ids.s9_16]);
    expect(flagSpecialIds(512)).toEqual({ ebae: golden.special_ids.s1_8, ebar: golden.special_ids.s9_16 });
    expect(layout.ids.slice(...layout.textRange)).toEqual(golden.text_ids);
    expect(layout.readout.ebae?.map((s) => layout.ids[s])).toEqual(golden.special_ids.s1_8);
    expect(layout.readout.ebar?.map((s) => layout.ids[s])).toEqual(golden.special_ids.s9_16);
    expect(layout.truncated).toBe(false);
  });

  it('builds the bag-of-words targets from the BOS-tokenised target texts', () => {
    expect(layout.bowTargets.ebae).toEqual(uniqueAbove2(golden.ebae_targets_from));
    expect(layout.bowTargets.ebar).toEqual(uniqueAbove2(golden.ebar_targets_from));
  });

  it('labels only the text tokens, each predicted by the slot before it', () => {
    const ar = layout.arTargets as number[];
    const labelled = ar.map((t, s) => [s, t]).filter(([, t]) => t !== IGNORE_INDEX);
    expect(labelled.length).toBe(golden.text_ids.length);
    expect(labelled[0]).toEqual([1, golden.text_ids[0]]); // the `"` slot predicts the first text token
    labelled.forEach(([s, t]) => {
      expect(layout.ids[s + 1]).toBe(t);
    });
    expect(labelled.at(-1)?.[0]).toBe(1 + golden.text_ids.length - 1);
  });
});

describe('flag layout with the LLaMA-2 tokenizer', () => {
  const tok = testTokenizer('llama2');
  const long = Array.from({ length: 80 }, (_, i) => `word${i}`).join(' ');

  it('has the released prefix, suffixes and special ids', () => {
    const rt = recipeTokens(flag, tok);
    expect(rt.prefix).toEqual([1, 376]);
    expect(rt.suffix.ebae).toEqual([...RELEASED_EBAE_SUFFIX, ...S1_8]);
    expect(rt.suffix.ebar).toEqual([...RELEASED_EBAR_SUFFIX, ...S9_16]);
    expect(rt.suffix.ebae.length).toBe(19);
    expect(rt.suffix.ebar.length).toBe(18);
  });

  it('truncates the text to maxLen - 2 - 19 - 18', () => {
    const l = pretrainLayout(flag, tok, { input: long, outputPredict: 'next passage' }, { maxLen: 64 });
    expect(l.ids.length).toBe(64);
    expect(l.textRange).toEqual([2, 2 + 64 - 2 - 19 - 18]);
    expect(l.ids.slice(...l.textRange)).toEqual(tok.encode(long, { addBos: false }).slice(0, 25));
    expect(l.truncated).toBe(true);
    expect(l.block).toEqual([27, 46, 46, 64]);
    expect(l.positionIds.slice(46)).toEqual(l.positionIds.slice(27, 45));
  });

  it('rejects a max length with no room for text', () => {
    expect(() => pretrainLayout(flag, tok, { input: 'a', outputPredict: 'b' }, { maxLen: 39 })).toThrow(
      /Max length 39 leaves no room for the input text: the flag prompt alone takes 39 tokens\./,
    );
  });

  it('takes the special ids from a tokenizer that already has <s1>..<s16>', () => {
    const names = flag.specialTokens?.names ?? [];
    const withSpecials = {
      ...tok,
      vocabSize: 32016,
      tokenToId: (t: string) => (names.includes(t) ? [...S1_8, ...S9_16][names.indexOf(t)] : undefined),
    };
    const rt = recipeTokens(flag, withSpecials);
    expect(rt.suffix.ebae.slice(-8)).toEqual(S1_8);
    expect(rt.suffix.ebar.slice(-8)).toEqual(S9_16);
  });

  it('removes stop words from the targets when asked', () => {
    const row = { input: 'The wing of the aircraft', outputPredict: 'It is in the flow.' };
    const l = pretrainLayout(flag, tok, row, { maxLen: 128, removeStopWords: true });
    expect(l.bowTargets.ebae).toEqual(uniqueAbove2(tok.encode('wing aircraft', { addBos: true })));
    expect(l.bowTargets.ebar).toEqual(uniqueAbove2(tok.encode('flow', { addBos: true })));
  });

  it('lays out queries and passages for inference', () => {
    const q = queryLayout(flag, tok, 'what is lift?', { maxLen: 64 });
    expect(q.ids).toEqual([
      1,
      376,
      ...tok.encode('what is lift?', { addBos: false }),
      ...RELEASED_EBAR_SUFFIX,
      ...S9_16,
    ]);
    expect(q.readout.embed).toEqual([
      q.ids.length - 8,
      q.ids.length - 7,
      q.ids.length - 6,
      q.ids.length - 5,
      q.ids.length - 4,
      q.ids.length - 3,
      q.ids.length - 2,
      q.ids.length - 1,
    ]);
    const p = passageLayout(flag, tok, { title: 'Llama', text: 'The llama is a camelid.' }, { maxLen: 64 });
    expect(p.ids).toEqual([
      1,
      376,
      ...tok.encode('Llama The llama is a camelid.', { addBos: false }),
      ...RELEASED_EBAE_SUFFIX,
      ...S1_8,
    ]);
    const t = queryLayout(flag, tok, long, { maxLen: 40 });
    expect(t.ids.length).toBe(40);
    expect(t.textRange).toEqual([2, 22]);
  });
});

describe('paper and repllama layouts', () => {
  const tok = testTokenizer('llama2');

  it('paper: <s> text SELF </s> NEXT </s> with the embeddings at each </s>', () => {
    const row = { input: 'wings lift', outputPredict: 'the flow is fast fast' };
    const l = pretrainLayout(paper, tok, row, { maxLen: 128 });
    const text = tok.encode('wings lift', { addBos: false });
    const self = tok.encode('The original sentence: ', { addBos: false });
    const next = tok.encode('The next sentence: ', { addBos: false });
    expect(l.ids).toEqual([1, ...text, ...self, 2, ...next, 2]);
    expect(l.readout.ebae).toEqual([1 + text.length + self.length]);
    expect(l.readout.ebar).toEqual([l.ids.length - 1]);
    expect(l.positionIds).toEqual(l.ids.map((_, i) => i));
    expect(l.block).toBeNull();
    expect(l.arTargets).toBeNull();
    expect(l.bowTargets.ebar).toEqual(tok.encode('the flow is fast fast', { addBos: false })); // repeats kept
  });

  it('paper inference: {text} The next sentence: </s> / The original sentence: </s>', () => {
    const q = queryLayout(paper, tok, 'lift', { maxLen: 32 });
    expect(q.ids).toEqual([
      1,
      ...tok.encode('lift', { addBos: false }),
      ...tok.encode('The next sentence: ', { addBos: false }),
      2,
    ]);
    expect(q.readout.embed).toEqual([q.ids.length - 1]);
    const p = passageLayout(paper, tok, 'drag', { maxLen: 32 });
    expect(p.ids.slice(-6)).toEqual([...tok.encode('The original sentence: ', { addBos: false }), 2]);
  });

  it('repllama: <s>query: {q}</s> and <s>passage: {title} {text}</s>', () => {
    const q = queryLayout(repllama, tok, 'what is lift', { maxLen: 32 });
    expect(q.ids).toEqual([1, ...tok.encode('query: what is lift', { addBos: false }), 2]);
    expect(q.readout.embed).toEqual([q.ids.length - 1]);
    const p = passageLayout(repllama, tok, { title: 'Wings', text: 'They lift.' }, { maxLen: 32 });
    expect(p.ids).toEqual([1, ...tok.encode('passage: Wings They lift.', { addBos: false }), 2]);
    const untitled = passageLayout(repllama, tok, { text: 'They lift.' }, { maxLen: 32 });
    expect(untitled.ids).toEqual([1, ...tok.encode('passage: They lift.', { addBos: false }), 2]);
    const short = passageLayout(repllama, tok, 'a b c d e f g h i j k l m n o p', { maxLen: 8 });
    expect(short.ids.length).toBe(8);
    expect(short.ids.at(-1)).toBe(2);
    expect(() => pretrainLayout(repllama, tok, { input: 'a', outputPredict: 'b' }, { maxLen: 32 })).toThrow(
      /no pretraining layout/,
    );
  });
});

describe('batching', () => {
  const tok = testTokenizer('llama2');
  const rows = [
    { input: 'short text', outputPredict: 'one' },
    { input: 'a somewhat longer text about wings and the flow around them', outputPredict: 'two words' },
    { input: 'mid length text here', outputPredict: 'three' },
  ];
  const layouts = rows.map((r) => pretrainLayout(flag, tok, r, { maxLen: 128 }));

  /** The mask written out from the recipe's rules, independently of maskAllows. */
  function expectedDense(ls: Layout[], T: number): Uint8Array {
    const out = new Uint8Array(ls.length * T * T);
    ls.forEach((l, b) => {
      const n = l.ids.length;
      const off = T - n;
      const ebaeStart = off + n - 37; // 19 EBAE + 18 EBAR suffix tokens at the end
      const ebarStart = off + n - 18;
      for (let i = 0; i < T; i++)
        for (let j = 0; j < T; j++) {
          const real = i >= off && j >= off;
          const causal = j <= i;
          const blocked = i >= ebarStart && j >= ebaeStart && j < ebarStart;
          out[(b * T + i) * T + j] = real && causal && !blocked ? 1 : 0;
        }
    });
    return out;
  }

  it('left-pads flag rows so the specials are the last slots, mask equal to a dense reference', () => {
    const b = batchForRecipe(flag, layouts);
    const longest = Math.max(...layouts.map((l) => l.ids.length));
    expect(b.seqLen).toBe(Math.ceil(longest / 8) * 8);
    const T = b.seqLen;
    expect(Array.from(denseMask(b.mask))).toEqual(Array.from(expectedDense(layouts, T)));
    layouts.forEach((l, r) => {
      const n = l.ids.length;
      const off = T - n;
      expect(Array.from(b.ids.slice(r * T, r * T + off)).every((id) => id === 0)).toBe(true);
      expect(Array.from(b.ids.slice(r * T + off, (r + 1) * T))).toEqual(l.ids);
      // Positions written out independently: arange, then EBAR reuses the slots 19 earlier.
      const pos = Array.from({ length: T }, (_, s) => {
        if (s < off) return 0;
        const k = s - off;
        return k >= n - 18 ? k - 19 : k;
      });
      expect(Array.from(b.positions.slice(r * T, (r + 1) * T))).toEqual(pos);
      expect(Array.from(b.readout.ebar?.slice(r * 8, r * 8 + 8) ?? [])).toEqual(
        Array.from({ length: 8 }, (_, i) => r * T + T - 8 + i),
      );
      expect(Array.from(b.readout.ebae?.slice(r * 8, r * 8 + 8) ?? []).map((s) => b.ids[s])).toEqual(S1_8);
    });
    expect(b.bowTargets.ebar?.[1]).toEqual(layouts[1].bowTargets.ebar);
  });

  it('shifts AR targets with the padding and counts them', () => {
    const b = batchLayouts(layouts, { paddingSide: 'left' });
    const T = b.seqLen;
    let count = 0;
    layouts.forEach((l, r) => {
      const off = T - l.ids.length;
      for (let s = 0; s < T; s++) {
        const t = b.arTargets?.[r * T + s];
        if (t !== IGNORE_INDEX) {
          count++;
          expect(t).toBe(b.ids[r * T + s + 1]);
          expect(s + 1).toBeGreaterThanOrEqual(off + 2);
        }
      }
    });
    expect(count).toBe(b.arCount);
    expect(b.arCount).toBe(layouts.reduce((a, l) => a + l.textRange[1] - l.textRange[0], 0));
  });

  it('right-pads repllama rows and reads the last real token', () => {
    const qs = ['lift', 'what makes a wing produce lift at low speed'].map((q) =>
      queryLayout(repllama, tok, q, { maxLen: 32 }),
    );
    const b = batchForRecipe(repllama, qs);
    const T = b.seqLen;
    expect(T).toBe(qs[1].ids.length);
    expect(Array.from(b.mask.validStart)).toEqual([0, 0]);
    expect(Array.from(b.mask.validEnd)).toEqual([qs[0].ids.length, qs[1].ids.length]);
    expect(b.mask.block).toBeUndefined();
    expect(Array.from(b.readout.embed ?? [])).toEqual([qs[0].ids.length - 1, T + T - 1]);
    expect(b.ids[qs[0].ids.length - 1]).toBe(2);
  });

  it('refuses a forced length shorter than the longest row', () => {
    expect(() => batchLayouts(layouts, { paddingSide: 'left', seqLen: 4 })).toThrow(
      /shorter than the longest row/,
    );
  });

  it('sorts by length, longest first, with the inverse permutation', () => {
    const { order, inverse } = sortByLength([3, 9, 5, 9]);
    expect(order).toEqual([1, 3, 2, 0]);
    expect(inverse).toEqual([3, 0, 2, 1]);
    expect(chunks([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  });
});

describe('recipes', () => {
  it('names the valid recipes on an unknown one', () => {
    expect(() => getRecipe('llara')).toThrow(
      'Unknown recipe "llara"; valid recipes are flag, paper, repllama.',
    );
    expect(() => getRecipe('toString')).toThrow(/valid recipes/);
  });

  it('is frozen, so customising means copying', () => {
    expect(() => {
      (flag.lora as { r: number }).r = 8;
    }).toThrow(TypeError);
    const custom = { ...flag, lora: { ...flag.lora, r: 8 } };
    expect([custom.lora.r, flag.lora.r]).toEqual([8, 64]);
  });

  it('keeps the released LoRA and fine-tuning defaults', () => {
    expect(flag.lora).toEqual({
      r: 64,
      alpha: 16,
      dropout: 0.1,
      targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    });
    expect(repllama.lora.targets).not.toContain('k_proj');
    expect([repllama.lora.r, repllama.lora.alpha, repllama.finetune.tau]).toEqual([32, 64, 0.01]);
  });
});

describe('pretext arrays for the GPU step', () => {
  const tok = testTokenizer('stories260K');
  const V = 528;
  const rows = [
    { input: 'a wing in a slipstream', outputPredict: 'the lift increases' },
    { input: 'shear flow past a flat plate', outputPredict: '' }, // no EBAR targets: skipped, as released
    { input: 'boundary layer', outputPredict: 'the flow separates near the edge' },
  ];

  /** Logits of every slot from a fixed pseudo-random sequence. */
  function slotLogits(n: number): Float64Array {
    const out = new Float64Array(n * V);
    let s = 12345;
    for (let i = 0; i < out.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      out[i] = (s / 2 ** 32) * 6 - 3;
    }
    return out;
  }

  for (const recipe of [flag, paper]) {
    it(`weights groups so their sum is the ${recipe.name} bag-of-words total, and lists the AR slots`, () => {
      const layouts = rows.map((r) => pretrainLayout(recipe, tok, r, { maxLen: 96 }));
      const b = batchForRecipe(recipe, layouts);
      const arr = pretextArrays(recipe, b);
      const logits = slotLogits(b.batch * b.seqLen);
      const P = arr.bowPositions;
      expect(P).toBe(recipe.name === 'flag' ? 8 : 1);
      // Reference: gather each task's read-out logits and apply the recipe's loss.
      const spec = recipe.loss?.bow;
      if (!spec) throw new Error('no loss');
      const perTask = (['ebae', 'ebar'] as const).map((task) => {
        const slots = b.readout[task] as Int32Array;
        const g = new Float64Array(slots.length * V);
        slots.forEach((slot, i) => {
          g.set(logits.subarray(slot * V, (slot + 1) * V), i * V);
        });
        return bowLossRef(g, { B: b.batch, K: P, V }, b.bowTargets[task] ?? [], spec).loss;
      });
      const expected = combinePretrainLosses(spec, { ebae: perTask[0], ebar: perTask[1] }).bow;
      // The GPU formulation: sum over groups of weight * -mean(logp[targets]) of the max-pooled group.
      let total = 0;
      for (let g = 0; g < arr.bowGroups; g++) {
        const pooled = new Float64Array(V).fill(Number.NEGATIVE_INFINITY);
        for (let k = 0; k < P; k++) {
          const slot = arr.bowRows[g * P + k];
          for (let v = 0; v < V; v++) pooled[v] = Math.max(pooled[v], logits[slot * V + v]);
        }
        const m = Math.max(...pooled);
        const lse = m + Math.log(pooled.reduce((a, x) => a + Math.exp(x - m), 0));
        const ids = arr.bowTargetIds.subarray(arr.bowTargetOffsets[g], arr.bowTargetOffsets[g + 1]);
        if (ids.length === 0) {
          expect(arr.bowWeights[g]).toBe(0);
          continue;
        }
        const mean = ids.reduce((a, t) => a + pooled[t] - lse, 0) / ids.length;
        total += arr.bowWeights[g] * -mean;
      }
      expect(arr.bowTask).toEqual(['ebae', 'ebae', 'ebae', 'ebar', 'ebar', 'ebar']);
      expect(Math.abs(total - expected)).toBeLessThan(1e-6 * Math.abs(expected));
      expect(arr.realTokens).toBe(layouts.reduce((a, l) => a + l.ids.length, 0));
      if (recipe.loss?.ar) {
        const ref = arLossRef(logits, { N: b.batch * b.seqLen, V }, b.arTargets as Int32Array);
        let ar = 0;
        arr.arRows.forEach((slot, i) => {
          const row = logits.subarray(slot * V, (slot + 1) * V);
          const m = Math.max(...row);
          const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
          ar -= arr.arWeight * (row[arr.arLabels[i]] - lse);
        });
        expect(arr.arRows.length).toBe(ref.count);
        expect(Math.abs(ar - ref.loss)).toBeLessThan(1e-9 * ref.loss);
      } else {
        expect(arr.arRows.length).toBe(0);
      }
    });
  }
});
