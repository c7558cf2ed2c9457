/**
 * Bind groups reused across submits, and the uniform arena that makes that possible.
 *
 * Creating a bind group costs ~37 us through Dawn's Node binding (measured on this project's CPU
 * machine), several times more than encoding the dispatch itself: a 7B forward (~700 dispatches) would
 * spend tens of milliseconds there, more than an H100 needs for a small batch. But the work repeats:
 * every training step and embedding batch runs the same pipelines on the same pooled buffers. So each
 * submit writes its dispatches' uniform params into one persistent arena, dispatch i at the same offset
 * whenever the same sequence runs again, and a bind group is keyed by (pipeline, params offset and
 * size, each bound buffer range). Rewriting the arena for the next submit is safe: `queue.writeBuffer`
 * is ordered after the submits already issued.
 *
 * ```ts
 * const arena = cache.arena(bytes);                 // grows (and forgets its bind groups) when needed
 * device.queue.writeBuffer(arena, 0, staging);
 * const group = cache.get(pipeline, { offset, size }, bindings);
 * ```
 */

export type BufferRange = { buffer: GPUBuffer; offset?: number; size?: number };

/** Entries kept before the least recently used are dropped (a 7B training step needs a few thousand). */
const DEFAULT_CAPACITY = 16384;

export class BindGroupCache {
  private readonly groups = new Map<string, GPUBindGroup>();
  private readonly ids = new WeakMap<object, number>();
  private nextId = 1;
  private uniforms: GPUBuffer | null = null;
  /** Bind groups created (cache misses) and reused (hits); tests and profiling read them. */
  readonly stats = { created: 0, reused: 0 };

  constructor(
    private readonly device: GPUDevice,
    private readonly capacity = DEFAULT_CAPACITY,
  ) {}

  /** The uniform arena, at least `bytes` long. A new arena invalidates every cached bind group. */
  arena(bytes: number): GPUBuffer {
    if (this.uniforms && this.uniforms.size >= bytes) return this.uniforms;
    // Grow geometrically so a run settles on one arena after its largest submit.
    const size = Math.max(bytes, 2 * (this.uniforms?.size ?? 0), 4096);
    this.uniforms?.destroy();
    this.uniforms = this.device.createBuffer({
      size,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'uniform arena',
    });
    this.groups.clear();
    return this.uniforms;
  }

  /**
   * The bind group of one dispatch: the arena range of its params at binding 0 (when `params` is
   * given), then `ranges` in order.
   */
  get(
    pipeline: GPUComputePipeline,
    params: { offset: number; size: number } | null,
    ranges: readonly BufferRange[],
  ): GPUBindGroup {
    let key = `${this.id(pipeline)}`;
    if (params) key += `|u${params.offset}:${params.size}`;
    for (const r of ranges) key += `|${this.id(r.buffer)}:${r.offset ?? 0}:${r.size ?? -1}`;
    const hit = this.groups.get(key);
    if (hit) {
      // Re-inserting keeps Map order = recency, so eviction drops the least recently used.
      this.groups.delete(key);
      this.groups.set(key, hit);
      this.stats.reused++;
      return hit;
    }
    const entries: GPUBindGroupEntry[] = [];
    if (params) {
      if (!this.uniforms) throw new Error('BindGroupCache: arena() must be called before binding params');
      entries.push({
        binding: 0,
        resource: { buffer: this.uniforms, offset: params.offset, size: params.size },
      });
    }
    for (const r of ranges) entries.push({ binding: entries.length, resource: r });
    const group = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    this.stats.created++;
    if (this.groups.size >= this.capacity) this.groups.delete(this.groups.keys().next().value!);
    this.groups.set(key, group);
    return group;
  }

  get size(): number {
    return this.groups.size;
  }

  /** Bytes of the current uniform arena (0 before the first submit with params). */
  get arenaBytes(): number {
    return this.uniforms?.size ?? 0;
  }

  destroy(): void {
    this.groups.clear();
    this.uniforms?.destroy();
    this.uniforms = null;
  }

  private id(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(o, id);
    }
    return id;
  }
}
