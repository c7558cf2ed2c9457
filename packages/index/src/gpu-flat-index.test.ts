import { fromF16Array, type Gpu, randomArray, seededRandom, toF16Array } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlatIndex } from './flat-index.ts';
import { GpuFlatIndex, type GpuFlatIndexOptions } from './gpu-flat-index.ts';
import type { VectorDType } from './vector-index.ts';

// Every device the index must work on: the adapter with all its features, and the plain f32 path with
// WebGPU's default limits (no shader-f16: f16 shards travel packed two per u32).
let devices: { name: string; gpu: Gpu }[];
beforeAll(async () => {
  devices = [
    { name: 'full', gpu: await requestNodeGpu() },
    {
      name: 'plain',
      gpu: await requestNodeGpu({ disable: ['shader-f16', 'subgroups'], defaultLimits: true }),
    },
  ];
});
afterAll(() => {
  for (const d of devices) d.gpu.destroy();
});

/**
 * Random rows on a coarse grid (multiples of 1/8 in [-1, 1]) so that many scores tie exactly, plus
 * duplicated rows, so ties straddle the k-th place and the shard boundaries.
 */
function tiedData(n: number, d: number, seed: number): { ids: string[]; rows: Float32Array } {
  const rand = seededRandom(seed);
  const rows = new Float32Array(n * d);
  for (let i = 0; i < rows.length; i++) rows[i] = Math.round((rand() * 2 - 1) * 8) / 8;
  // Rows 10..29 repeat row 3: twenty identical vectors in several shards.
  for (let r = 10; r < 30; r++) rows.copyWithin(r * d, 3 * d, 4 * d);
  // Ids are shuffled relative to rows so that the id rule disagrees with the GPU's row-order rule.
  const ids = Array.from({ length: n }, (_, i) => `d${((i * 37) % n).toString().padStart(3, '0')}`);
  return { ids, rows };
}

async function expectSame(
  gpu: Gpu,
  ids: string[],
  rows: Float32Array,
  queries: Float32Array,
  d: number,
  ks: number[],
  opts: GpuFlatIndexOptions & { dtype?: VectorDType },
): Promise<GpuFlatIndex> {
  const cpu = new FlatIndex(d, { dtype: opts.dtype });
  cpu.add(ids, rows);
  const index = new GpuFlatIndex(gpu, d, opts);
  index.add(ids, rows);
  for (const k of ks) expect(await index.search(queries, k), `k = ${k}`).toEqual(cpu.searchSync(queries, k));
  return index;
}

describe('GpuFlatIndex', () => {
  const d = 12;
  const n = 90;
  const { ids, rows } = tiedData(n, d, 7);
  // Queries on the same grid, one equal to the duplicated row (its twenty copies tie at the top).
  const queries = new Float32Array(4 * d);
  const rand = seededRandom(11);
  for (let i = 0; i < queries.length; i++) queries[i] = Math.round((rand() * 2 - 1) * 4) / 4;
  queries.set(rows.subarray(3 * d, 4 * d), 2 * d);

  it('equals the CPU flat index, ties by id across small shards (f32)', async () => {
    for (const { name, gpu } of devices) {
      const index = await expectSame(gpu, ids, rows, queries, d, [1, 5, 12, 25], {
        shardRows: 25,
        margin: 2,
      });
      expect(index.shardCount, name).toBe(4);
      // The twenty tied copies cannot be settled from 3 candidates per shard: more were fetched.
      expect(index.stats.widened, name).toBeGreaterThan(0);
      index.destroy();
    }
  });

  it('returns every vector when k exceeds the size', async () => {
    for (const { gpu } of devices) {
      const index = await expectSame(
        gpu,
        ids.slice(0, 30),
        rows.subarray(0, 30 * d),
        queries,
        d,
        [31, 1000],
        {
          shardRows: 16,
        },
      );
      expect((await index.search(queries, 100))[0]).toHaveLength(30);
      index.destroy();
    }
  });

  it('stores f16 and equals FlatIndex with f16 storage', async () => {
    const smooth = randomArray(n * d, 5, -1, 1);
    smooth.copyWithin(40 * d, 0, 10 * d);
    const q = randomArray(3 * d, 6, -1, 1);
    for (const { gpu } of devices) {
      const index = await expectSame(gpu, ids, smooth, q, d, [3, 20], { dtype: 'f16', shardRows: 32 });
      expect(index.get(ids[7])).toEqual(fromF16Array(toF16Array(smooth.subarray(7 * d, 8 * d))));
      index.destroy();
    }
  });

  it('adds and removes by id, compacting shards, and still equals the CPU index', async () => {
    for (const { gpu } of devices) {
      const cpu = new FlatIndex(d);
      const index = new GpuFlatIndex(gpu, d, { shardRows: 20, margin: 1 });
      cpu.add(ids.slice(0, 50), rows.subarray(0, 50 * d));
      index.add(ids.slice(0, 50), rows.subarray(0, 50 * d));
      expect(await index.search(queries, 6)).toEqual(cpu.searchSync(queries, 6));
      // Remove rows from the middle and the end of shards (moving last rows into the holes on the device),
      // empty a whole shard, then add more: the device copies must follow.
      const gone = [...ids.slice(0, 20).filter((_, i) => i % 3 === 0), ...ids.slice(40, 50), 'unknown'];
      expect(index.remove(gone)).toBe(gone.length - 1);
      cpu.remove(gone);
      expect(index.size).toBe(cpu.size);
      expect(index.has(ids[0])).toBe(false);
      expect(await index.search(queries, 6)).toEqual(cpu.searchSync(queries, 6));
      index.add(ids.slice(50), rows.subarray(50 * d));
      cpu.add(ids.slice(50), rows.subarray(50 * d));
      expect(await index.search(queries, 9)).toEqual(cpu.searchSync(queries, 9));
      expect(() => index.add([ids[60]], rows.subarray(0, d))).toThrow(
        `The id "${ids[60]}" is already in the index.`,
      );
      expect(index.get(ids[61])).toEqual(rows.slice(61 * d, 62 * d));
      index.destroy();
    }
  });

  it('scans a shard on the CPU when more than 1000 candidates tie', async () => {
    const { gpu } = devices[1];
    const index = new GpuFlatIndex(gpu, 2);
    expect(await index.search(new Float32Array([1, 0, 0, 1]), 3)).toEqual([[], []]);
    const many = Array.from({ length: 1200 }, (_, i) => `x${i}`);
    const vectors = randomArray(2400, 3, -0.2, 0.2);
    vectors.fill(0.5, 0, 2 * 1100);
    const cpu = new FlatIndex(2);
    cpu.add(many, vectors);
    index.add(many, vectors);
    const q = new Float32Array([1, 1, 0.25, -1]);
    expect(await index.search(q, 5)).toEqual(cpu.searchSync(q, 5));
    expect(index.stats.scanned).toBe(1);
    await expect(index.search(new Float32Array([1, 0]), 1001)).rejects.toThrow(/more than the 1000 results/);
    index.destroy();
  });
});
