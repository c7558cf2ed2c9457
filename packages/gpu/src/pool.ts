/**
 * Reuses storage buffers of the same size: a training step or an embedding batch allocates the same
 * activation shapes every time, so after the first step memory stays flat.
 */
export interface PoolStats {
  /** Bytes held by live buffers the pool created (in use + free). */
  allocatedBytes: number;
  inUseBytes: number;
  peakInUseBytes: number;
  freeBuffers: number;
  created: number;
  reused: number;
}

const ALIGN = 256;

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  /**
   * Released while commands that use them may not be submitted yet: they become reusable only at the
   * next `flush()` (after a queue submit), so a later write or clear can never overtake a pending read.
   */
  private readonly deferred: GPUBuffer[] = [];
  readonly stats: PoolStats = {
    allocatedBytes: 0,
    inUseBytes: 0,
    peakInUseBytes: 0,
    freeBuffers: 0,
    created: 0,
    reused: 0,
  };

  constructor(private readonly create: (size: number, label: string) => GPUBuffer) {}

  static roundSize(bytes: number): number {
    return Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
  }

  acquire(bytes: number, label: string): GPUBuffer {
    const size = BufferPool.roundSize(bytes);
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf) {
      this.stats.reused++;
      this.stats.freeBuffers--;
    } else {
      buf = this.create(size, label);
      this.stats.created++;
      this.stats.allocatedBytes += size;
    }
    this.stats.inUseBytes += size;
    this.stats.peakInUseBytes = Math.max(this.stats.peakInUseBytes, this.stats.inUseBytes);
    return buf;
  }

  release(buf: GPUBuffer): void {
    this.stats.inUseBytes -= buf.size;
    this.deferred.push(buf);
  }

  /** Makes buffers released before the last queue submit reusable. */
  flush(): void {
    for (const buf of this.deferred.splice(0)) this.recycle(buf);
  }

  private recycle(buf: GPUBuffer): void {
    const size = buf.size;
    let list = this.free.get(size);
    if (!list) {
      list = [];
      this.free.set(size, list);
    }
    list.push(buf);
    this.stats.freeBuffers++;
  }

  /** Destroys every free buffer (live ones are untouched). */
  trim(): void {
    this.flush();
    for (const list of this.free.values()) {
      for (const b of list) {
        this.stats.allocatedBytes -= b.size;
        b.destroy();
      }
    }
    this.free.clear();
    this.stats.freeBuffers = 0;
  }
}
