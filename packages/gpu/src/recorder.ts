import type { Gpu } from './gpu.ts';
import { Tensor } from './tensor.ts';

export type Binding = Tensor | GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

export interface Dispatch {
  pipeline: GPUComputePipeline;
  /** Storage buffers in binding order; `params` (if any) is bound first, at binding 0. */
  bindings: Binding[];
  /** Uniform `Params` bytes (u32/i32/f32 fields), bound at binding 0. */
  params?: ArrayBufferView | ArrayBuffer;
  workgroups: [number, number?, number?];
  label: string;
}

export interface DispatchTiming {
  label: string;
  ms: number;
}

/**
 * Collects the dispatches of one unit of work (a layer, a step) and submits them as one command
 * buffer. Uniform params of every dispatch are packed into the device's uniform arena, written once
 * per submit; bind groups come from `gpu.bindGroups`, which reuses them when a sequence repeats.
 * With `profile`, each dispatch gets its own pass with timestamps and `timings()` reads them back.
 */
export class Recorder {
  private readonly items: (Dispatch | { copy: [Tensor, Tensor, number] } | { clear: Tensor })[] = [];
  private readonly timingLabels: string[] = [];
  private querySet: GPUQuerySet | null = null;
  private resolveBuf: GPUBuffer | null = null;
  private readBuf: GPUBuffer | null = null;

  constructor(
    readonly gpu: Gpu,
    readonly profile = false,
  ) {
    if (profile && !gpu.features.has('timestamp-query')) {
      throw new Error('Profiling needs the timestamp-query feature, which this device lacks');
    }
  }

  dispatch(d: Dispatch): void {
    const [x, y = 1, z = 1] = d.workgroups;
    const max = this.gpu.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) {
      throw new Error(`${d.label}: dispatch ${x}x${y}x${z} exceeds ${max} workgroups per dimension`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    this.items.push(d);
  }

  copy(src: Tensor, dst: Tensor, bytes = Math.min(src.byteLength, dst.byteLength)): void {
    this.items.push({ copy: [src, dst, bytes] });
  }

  /** Zeroes a tensor in command order (unlike `gpu.zeros`, which clears immediately). */
  clear(t: Tensor): void {
    this.items.push({ clear: t });
  }

  get pending(): number {
    return this.items.length;
  }

  submit(): void {
    if (this.items.length === 0) return;
    this.gpu.assertAlive();
    const device = this.gpu.device;
    const align = this.gpu.limits.minUniformBufferOffsetAlignment;
    const offsets: number[] = [];
    let total = 0;
    for (const it of this.items) {
      if (!('pipeline' in it) || !it.params) {
        offsets.push(-1);
        continue;
      }
      offsets.push(total);
      total += Math.ceil(it.params.byteLength / align) * align;
    }
    if (total > 0) {
      const staging = new Uint8Array(total);
      this.items.forEach((it, i) => {
        if (!('pipeline' in it) || !it.params) return;
        const p = it.params;
        const bytes = ArrayBuffer.isView(p)
          ? new Uint8Array(p.buffer, p.byteOffset, p.byteLength)
          : new Uint8Array(p);
        staging.set(bytes, offsets[i]);
      });
      device.queue.writeBuffer(this.gpu.bindGroups.arena(total), 0, staging);
    }
    const dispatchCount = this.items.filter((it) => 'pipeline' in it).length;
    this.gpu.dispatchesSubmitted += dispatchCount;
    if (this.profile) this.prepareQueries(dispatchCount);
    const encoder = device.createCommandEncoder();
    let pass: GPUComputePassEncoder | null = null;
    let q = 0;
    this.timingLabels.length = 0;
    this.items.forEach((it, i) => {
      if ('copy' in it) {
        pass?.end();
        pass = null;
        const [src, dst, bytes] = it.copy;
        encoder.copyBufferToBuffer(src.buffer, 0, dst.buffer, 0, Math.ceil(bytes / 4) * 4);
        return;
      }
      if ('clear' in it) {
        pass?.end();
        pass = null;
        encoder.clearBuffer(it.clear.buffer);
        return;
      }
      if (this.profile) {
        pass?.end();
        pass = encoder.beginComputePass({
          label: it.label,
          timestampWrites: {
            querySet: this.querySet!,
            beginningOfPassWriteIndex: 2 * q,
            endOfPassWriteIndex: 2 * q + 1,
          },
        });
        this.timingLabels.push(it.label);
        q++;
      } else if (!pass) {
        pass = encoder.beginComputePass();
      }
      const params = it.params ? { offset: offsets[i], size: it.params.byteLength } : null;
      const group = this.gpu.bindGroups.get(it.pipeline, params, it.bindings.map(toResource));
      pass.setPipeline(it.pipeline);
      pass.setBindGroup(0, group);
      const [x, y = 1, z = 1] = it.workgroups;
      pass.dispatchWorkgroups(x, y, z);
    });
    (pass as GPUComputePassEncoder | null)?.end();
    if (this.profile && q > 0) {
      encoder.resolveQuerySet(this.querySet!, 0, 2 * q, this.resolveBuf!, 0);
      encoder.copyBufferToBuffer(this.resolveBuf!, 0, this.readBuf!, 0, 16 * q);
    }
    device.queue.submit([encoder.finish()]);
    this.gpu.pool.flush();
    this.items.length = 0;
    if (this.profile && q > 0) {
      // Each profiled submit reads its own query buffers, so later submits cannot overwrite them.
      const read = this.readBuf!;
      const labels = [...this.timingLabels];
      const resources = [this.querySet!, this.resolveBuf!, read];
      this.querySet = this.resolveBuf = this.readBuf = null;
      this.lastTimings = read.mapAsync(GPUMapMode.READ, 0, 16 * q).then(() => {
        const t = new BigUint64Array(read.getMappedRange(0, 16 * q).slice(0));
        read.unmap();
        for (const r of resources) r.destroy();
        return labels.map((label, i) => ({ label, ms: Number(t[2 * i + 1] - t[2 * i]) / 1e6 }));
      });
      this.gpu.collectTimings(this.lastTimings);
    }
  }

  private lastTimings: Promise<DispatchTiming[]> | null = null;

  /** GPU time of each dispatch of the last profiled submit, in milliseconds. */
  async timings(): Promise<DispatchTiming[]> {
    return this.lastTimings ? await this.lastTimings : [];
  }

  private prepareQueries(count: number): void {
    if (this.querySet && this.querySet.count >= 2 * count) return;
    this.destroyQueries();
    const device = this.gpu.device;
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * Math.max(count, 1) });
    const size = 16 * Math.max(count, 1);
    this.resolveBuf = device.createBuffer({
      size,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    this.readBuf = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  private destroyQueries(): void {
    this.querySet?.destroy();
    this.resolveBuf?.destroy();
    this.readBuf?.destroy();
    this.querySet = this.resolveBuf = this.readBuf = null;
  }

  dispose(): void {
    this.destroyQueries();
  }
}

function toResource(b: Binding): GPUBufferBinding {
  if (b instanceof Tensor)
    return { buffer: b.buffer, offset: 0, size: Math.max(4, Math.ceil(b.byteLength / 4) * 4) };
  if ('buffer' in b && !('mapAsync' in b)) return { buffer: b.buffer, offset: b.offset, size: b.size };
  return { buffer: b as GPUBuffer };
}
