import { readFile } from 'node:fs/promises';
import { LlamaTokenizer, memoryFiles } from '@llara/llama';
import { getRecipe, type Layout, passageLayout, queryLayout } from '@llara/trainer';
import { beforeAll, describe, expect, it } from 'vitest';
import { boundedLayout } from './bounded-layout.ts';

const modelDir = new URL('../../../data/models/stories260K/', import.meta.url);
const recipe = getRecipe('flag');
let tok: LlamaTokenizer;

beforeAll(async () => {
  tok = await LlamaTokenizer.fromFiles(
    memoryFiles({ 'tokenizer.json': await readFile(new URL('tokenizer.json', modelDir)) }),
  );
});

const count = (t: string) => tok.encode(t, { addBos: false }).length;
const same = (a: Layout, b: Layout) => {
  expect(a.ids).toEqual(b.ids);
  expect(a.truncated).toBe(b.truncated);
  expect(a.textRange).toEqual(b.textRange);
};

describe('boundedLayout', () => {
  const texts = {
    prose: 'The boundary layer grows thicker along the flat plate, as the flow moves downstream. '.repeat(
      150,
    ),
    'no spaces': 'Shockwave'.repeat(800),
    'non-ASCII': 'Mach 2 über 😀 the wing, ünd the nozzle. '.repeat(200),
    short: 'A rocket engine burns fuel and oxygen.',
  };
  for (const [name, text] of Object.entries(texts))
    it(`gives the same passage and query layouts as tokenizing everything: ${name}`, () => {
      for (const maxLen of [64, 128]) {
        const opts = { maxLen, baseVocab: 512 };
        same(
          boundedLayout(text, maxLen, (t) => passageLayout(recipe, tok, t, opts), count),
          passageLayout(recipe, tok, text, opts),
        );
        same(
          boundedLayout(text, maxLen, (t) => queryLayout(recipe, tok, t, opts), count),
          queryLayout(recipe, tok, text, opts),
        );
      }
    });

  it('tokenizes only a head of a long text', () => {
    const seen: number[] = [];
    const layout = boundedLayout(
      texts.prose,
      64,
      (t) => {
        seen.push(t.length);
        return passageLayout(recipe, tok, t, { maxLen: 64, baseVocab: 512 });
      },
      count,
    );
    expect(layout.truncated).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeLessThan(texts.prose.length / 4);
  });
});
