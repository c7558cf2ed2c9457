import { seededRandom } from '@llara/gpu';
import { describe, expect, it } from 'vitest';
import { compareHits } from './ranking.ts';
import { TopK } from './top-k.ts';

describe('TopK', () => {
  it('keeps the same hits as a full sort, ties included, for every k', () => {
    const rand = seededRandom(7);
    // Scores from a small set so that many ties need the id rule.
    const hits = Array.from({ length: 200 }, (_, i) => ({
      id: `doc${i}`,
      score: Math.floor(rand() * 8) / 4,
    }));
    const full = [...hits].sort(compareHits);
    for (const k of [1, 2, 7, 50, 199, 200, 500]) {
      const top = new TopK(k);
      for (const h of hits) top.push(h.id, h.score);
      expect(top.sorted()).toEqual(full.slice(0, k));
    }
  });

  it('rejects a k that is not a positive integer', () => {
    expect(() => new TopK(0)).toThrow('k must be a positive integer, got 0.');
    expect(() => new TopK(1.5)).toThrow('k must be a positive integer, got 1.5.');
  });
});
