import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomArray } from '@llara/gpu';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FlatIndex } from './flat-index.ts';
import { LanceStore } from './lancedb.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llara-lance-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const d = 8;
const n = 60;
const ids = Array.from({ length: n }, (_, i) => `doc-${(i * 7) % n}`);
const texts = ids.map((id) => `text of ${id}, with 'quotes'`);
const rows = randomArray(n * d, 3, -1, 1);
// Fifteen copies of row 0, so ties straddle the k-th place and must follow the id rule.
for (let r = 1; r < 15; r++) rows.copyWithin(r * d, 0, d);
const queries = new Float32Array([...rows.subarray(0, d), ...randomArray(2 * d, 4, -1, 1)]);

describe('LanceStore', () => {
  it('round-trips documents on disk and searches exactly like FlatIndex', async () => {
    const flat = new FlatIndex(d);
    flat.add(ids, rows);
    const store = await LanceStore.open(dir, { margin: 1 });
    expect(await store.count()).toBe(0);
    await store.add(ids.slice(0, 40), texts.slice(0, 40), rows.subarray(0, 40 * d));
    await store.add(ids.slice(40), texts.slice(40), rows.subarray(40 * d));
    store.close();

    const again = await LanceStore.open(dir, { margin: 1 });
    expect(again.dims).toBe(d);
    expect(await again.count()).toBe(n);
    for (const k of [1, 5, 20, 100])
      expect(await again.search(queries, k), `k = ${k}`).toEqual(flat.searchSync(queries, k));
    expect(await again.texts([ids[3], 'missing'])).toEqual([texts[3], undefined]);
    again.close();
  });

  it('rejects repeated ids, mismatched shapes and a wrong dims on open', async () => {
    const store = await LanceStore.open(dir);
    await store.add(ids.slice(0, 2), texts.slice(0, 2), rows.subarray(0, 2 * d));
    await expect(store.add([ids[1]], ['again'], rows.subarray(0, d))).rejects.toThrow(
      `The id "${ids[1]}" is already in the LanceDB store ${dir}.`,
    );
    await expect(store.add(['x'], ['x'], rows.subarray(0, d + 1))).rejects.toThrow(
      /not a multiple of the 8 dimensions/,
    );
    store.close();
    await expect(LanceStore.open(dir, { dims: 3 })).rejects.toThrow(/holds 8-dimensional vectors, not 3/);
  });
});
