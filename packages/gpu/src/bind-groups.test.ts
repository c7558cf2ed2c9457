import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BindGroupCache } from './bind-groups.ts';
import { params } from './dispatch.ts';
import type { Gpu } from './gpu.ts';
import { requestNodeGpu } from './node.ts';
import type { Tensor } from './tensor.ts';

// y[i] += p.add: the same pipeline and buffers with different params per submit.
const ACCUMULATE = /* wgsl */ `
struct Params { n: u32, add: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < p.n) { y[g.x] += p.add; }
}`;

let gpu: Gpu;
beforeAll(async () => {
  gpu = await requestNodeGpu();
});
afterAll(() => gpu?.destroy());

function accumulate(y: Tensor, add: number, times = 1): void {
  const pipeline = gpu.pipeline({ code: ACCUMULATE, label: 'accumulate' });
  const rec = gpu.recorder();
  for (let i = 0; i < times; i++)
    rec.dispatch({
      pipeline,
      params: params([y.size, { f32: add }]),
      bindings: [y],
      workgroups: [1],
      label: 'acc',
    });
  rec.submit();
}

describe('bind groups across submits', () => {
  it('reuses the bind groups of a repeated sequence, each submit reading its own params', async () => {
    const y = gpu.tensor('f32', [40], new Float32Array(40));
    accumulate(y, 1, 3);
    const before = { ...gpu.bindGroups.stats };
    // The same three slots again, back to back and without waiting: the arena is rewritten between
    // submits, so a submit that read the next one's params would add 20 or 300 instead of 2 or 30.
    accumulate(y, 2, 3);
    accumulate(y, 30, 3);
    expect(gpu.bindGroups.stats.created).toBe(before.created);
    expect(gpu.bindGroups.stats.reused).toBe(before.reused + 6);
    const out = (await gpu.read(y)) as Float32Array;
    expect([...new Set(out)]).toEqual([3 * (1 + 2 + 30)]);
    y.release();
  });

  it('makes a new bind group for a different buffer or range, and after the arena grows', async () => {
    const a = gpu.tensor('f32', [40], new Float32Array(40));
    const b = gpu.tensor('f32', [40], new Float32Array(40), { pooled: false });
    accumulate(a, 1);
    const created = gpu.bindGroups.stats.created;
    accumulate(b, 1);
    expect(gpu.bindGroups.stats.created).toBe(created + 1);
    // More dispatches than the arena holds: it grows, and every bind group is made again.
    const n = gpu.bindGroups.arenaBytes / gpu.limits.minUniformBufferOffsetAlignment + 1;
    accumulate(a, 0.5, n);
    expect(gpu.bindGroups.arenaBytes).toBeGreaterThan(0);
    expect(gpu.bindGroups.stats.created).toBe(created + 1 + n);
    accumulate(a, 0.5);
    const out = (await gpu.read(a)) as Float32Array;
    expect(out[39]).toBe(1 + 0.5 * n + 0.5);
    expect(((await gpu.read(b)) as Float32Array)[0]).toBe(1);
    a.release();
    b.release();
  });

  it('keeps at most its capacity, dropping the least recently used', () => {
    const cache = new BindGroupCache(gpu.device, 2);
    const pipeline = gpu.pipeline({ code: ACCUMULATE, label: 'accumulate' });
    cache.arena(1024);
    const bufs = [0, 1, 2].map(() => gpu.tensor('f32', [64], undefined, { pooled: false }));
    const get = (i: number) => cache.get(pipeline, { offset: 0, size: 8 }, [{ buffer: bufs[i].buffer }]);
    const g0 = get(0);
    get(1);
    expect(get(0)).toBe(g0); // 0 is now the most recent
    get(2); // evicts 1
    expect(cache.size).toBe(2);
    expect(get(0)).toBe(g0);
    const created = cache.stats.created;
    get(1);
    expect(cache.stats.created).toBe(created + 1);
    for (const t of bufs) t.release();
    cache.destroy();
  });
});
