import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCapabilities } from './capabilities.ts';
import { params } from './dispatch.ts';
import { GpuUnavailableError } from './errors.ts';
import type { Gpu } from './gpu.ts';
import { requestGpu } from './gpu.ts';
import { f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, toBf16Array, toF16Array } from './half.ts';
import { requestNodeGpu } from './node.ts';
import { BufferPool } from './pool.ts';

const SCALE = /* wgsl */ `
struct Params { n: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
override WG: u32 = 64;
@compute @workgroup_size(WG) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < p.n) { y[g.x] = x[g.x] * p.scale; }
}`;

let gpu: Gpu;
beforeAll(async () => {
  gpu = await requestNodeGpu();
});
afterAll(() => gpu?.destroy());

describe('device', () => {
  it('reports the adapter and its capabilities', () => {
    const text = formatCapabilities(gpu.caps);
    expect(text).toMatch(/adapter: {3}\S+/);
    expect(gpu.caps.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(gpu.caps.features.length).toBeGreaterThan(0);
  });

  it('gives one clear sentence when no adapter exists', async () => {
    const fake = { requestAdapter: async () => null } as unknown as GPU;
    await expect(requestGpu(fake, { noAdapterHint: 'install lavapipe' })).rejects.toThrow(
      GpuUnavailableError,
    );
    await expect(requestGpu(fake, { noAdapterHint: 'install lavapipe' })).rejects.toThrow(
      'No WebGPU adapter was found: install lavapipe.',
    );
  });

  it('honours disabled features and default limits', async () => {
    const plain = await requestNodeGpu({ disable: ['shader-f16', 'subgroups'], defaultLimits: true });
    try {
      expect(plain.has('shader-f16')).toBe(false);
      expect(plain.has('subgroups')).toBe(false);
      expect(plain.limits.maxStorageBufferBindingSize).toBe(128 * 1024 * 1024);
      expect(() => plain.checkBindingSize(200 * 1024 * 1024, 'Tensor big')).toThrow(
        /Tensor big needs 200.0 MiB/,
      );
    } finally {
      plain.destroy();
    }
  });

  it('can pretend to be a smaller device (maxBindingBytes), refusing larger tensors before allocating', async () => {
    const small = await requestNodeGpu({ maxBindingBytes: 4096 });
    try {
      expect(small.limits.maxStorageBufferBindingSize).toBe(4096);
      small.tensor('f32', [1024]).release();
      const before = small.pool.stats.created;
      expect(() => small.tensor('f32', [1025], undefined, { label: 'big' })).toThrow(
        'Tensor big needs 4.0 KiB in one buffer, more than this device allows per binding (4.0 KiB); split it by rows.',
      );
      expect(small.pool.stats.created).toBe(before);
    } finally {
      small.destroy();
    }
  });
});

describe('tensors', () => {
  it('round-trips every dtype bit-exactly', async () => {
    const special = [
      0,
      -0,
      1,
      -2.5,
      65504,
      1e-7,
      6e-8,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.NaN,
      3.25,
    ];
    const f32 = new Float32Array(special);
    const cases: [Parameters<Gpu['tensor']>[0], ArrayBufferView & ArrayLike<number>][] = [
      ['f32', f32],
      ['f16', toF16Array(special)],
      ['bf16', toBf16Array(special)],
      ['i32', new Int32Array([0, -1, 2147483647, -2147483648, 5])],
      ['u32', new Uint32Array([0, 1, 4294967295, 123456789])],
      ['i8', new Int8Array([0, -128, 127, 5, -3])],
    ];
    for (const [dtype, data] of cases) {
      const t = gpu.tensor(dtype, [data.length], data);
      const back = await gpu.read(t);
      expect(Array.from(new Uint8Array(back.buffer, back.byteOffset, back.byteLength)), dtype).toEqual(
        Array.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)),
      );
      t.release();
    }
  });

  it('converts halves exactly (rounding, subnormals, NaN, Inf)', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds to +Inf
    expect(f32ToF16Bits(2 ** -24)).toBe(1); // smallest subnormal
    expect(f32ToF16Bits(2 ** -25)).toBe(0); // ties to even -> 0
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie to even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(Number.NaN)))).toBe(true);
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie to even
    expect(f32ToBf16Bits(Number.NaN) & 0x7fc0).toBe(0x7fc0);
  });

  it('refuses a tensor larger than one binding', () => {
    const big = gpu.limits.maxStorageBufferBindingSize / 4 + 1;
    expect(() => gpu.tensor('f32', [big])).toThrow(/more than this device allows per binding/);
  });
});

describe('pipelines and recorder', () => {
  it('reuses pipelines per (source, constants) and runs a dispatch', async () => {
    const before = gpu.pipelines.compiled;
    const p1 = gpu.pipeline({ code: SCALE, label: 'scale', constants: { WG: 64 } });
    const p2 = gpu.pipeline({ code: SCALE, label: 'scale', constants: { WG: 64 } });
    const p3 = gpu.pipeline({ code: SCALE, label: 'scale', constants: { WG: 32 } });
    expect(p1).toBe(p2);
    expect(p3).not.toBe(p1);
    expect(gpu.pipelines.compiled - before).toBe(2);
    const n = 1000;
    const x = gpu.tensor(
      'f32',
      [n],
      Float32Array.from({ length: n }, (_, i) => i),
    );
    const y = gpu.tensor('f32', [n]);
    const rec = gpu.recorder();
    rec.dispatch({
      pipeline: p1,
      params: params([n, { f32: 0.5 }]),
      bindings: [x, y],
      workgroups: [Math.ceil(n / 64)],
      label: 'scale',
    });
    rec.submit();
    const out = (await gpu.read(y)) as Float32Array;
    expect(out[999]).toBe(499.5);
    expect(out[1]).toBe(0.5);
  });

  it('profiles a dispatch with a positive GPU time', async () => {
    const p = gpu.pipeline({ code: SCALE, label: 'scale', constants: { WG: 64 } });
    const n = 1 << 16;
    const x = gpu.tensor('f32', [n]);
    const y = gpu.tensor('f32', [n]);
    const rec = gpu.recorder({ profile: true });
    for (let i = 0; i < 3; i++)
      rec.dispatch({
        pipeline: p,
        params: params([n, { f32: 2 }]),
        bindings: [x, y],
        workgroups: [n / 64],
        label: `scale${i}`,
      });
    rec.submit();
    const t = await rec.timings();
    expect(t.map((d) => d.label)).toEqual(['scale0', 'scale1', 'scale2']);
    for (const d of t) expect(d.ms).toBeGreaterThan(0);
    rec.dispose();
  });

  it('reports WGSL errors with the kernel label', async () => {
    gpu.pipeline({ code: 'fn broken( {', label: 'broken-kernel' });
    await expect(gpu.checkErrors()).rejects.toThrow(/broken-kernel/);
  });

  it('pools buffers so repeated shapes allocate nothing new', () => {
    const created = gpu.pool.stats.created;
    for (let i = 0; i < 10; i++) {
      const t = gpu.tensor('f32', [4096], undefined, { label: 'act' });
      const rec = gpu.recorder();
      rec.clear(t);
      t.release(); // reusable only once the commands that use it are submitted
      rec.submit();
    }
    expect(gpu.pool.stats.created - created).toBeLessThanOrEqual(1);
    expect(gpu.pool.stats.inUseBytes).toBeGreaterThanOrEqual(0);
  });

  it('hands out the oldest free buffer of a size, whatever order they were released in', () => {
    const pool = new BufferPool((size, label) =>
      gpu.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE, label }),
    );
    const [a, b, c] = [0, 1, 2].map(() => pool.acquire(1000, 'x'));
    for (const order of [
      [c, a, b],
      [b, c, a],
    ]) {
      for (const buf of order) pool.release(buf);
      pool.flush();
      expect([pool.acquire(1000, 'x'), pool.acquire(1000, 'x'), pool.acquire(1000, 'x')]).toEqual([a, b, c]);
    }
    pool.release(b);
    pool.release(c);
    pool.flush();
    expect(pool.acquire(1000, 'x')).toBe(b);
    for (const buf of [a, b, c]) buf.destroy();
  });
});
