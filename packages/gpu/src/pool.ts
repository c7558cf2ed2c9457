/**
 * Reuses storage buffers of the same size: a training step or an embedding batch allocates the same
 * activation shapes every time, so after the first step memory stays flat. A request gets the free
 * buffer of its size that was created first, so which buffer a tensor gets depends only on the set of
 * free buffers, not on the order they came back: a repeated step binds the very same buffers, and
 * every bind group it needs is already cached (bind-groups.ts).
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
  /** Free buffers per size, ordered by creation, the oldest last (popped first). */
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly order = new WeakMap<GPUBuffer, number>();
  private nextOrder = 0;
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
      this.order.set(buf, this.nextOrder++);
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
    // Keep the list sorted newest first; a step frees a handful per size, so a linear scan is enough.
    const rank = this.order.get(buf) ?? -1;
    let i = list.length;
    while (i > 0 && (this.order.get(list[i - 1]) ?? -1) < rank) i--;
    list.splice(i, 0, buf);
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
