import { BindGroupCache } from './bind-groups.ts';
import { type Capabilities, readCapabilities } from './capabilities.ts';
import { type DType, type HostArray, hostArrayFor, tensorByteLength } from './dtype.ts';
import { DeviceLostError, GpuError, GpuLimitError, GpuUnavailableError } from './errors.ts';
import { PipelineCache, type PipelineSpec } from './pipelines.ts';
import { BufferPool } from './pool.ts';
import { isQuantFormat } from './quant-layout.ts';
import { type DispatchTiming, Recorder } from './recorder.ts';
import { Tensor } from './tensor.ts';

/** Feature names kernels ask about; `subgroup-matrix` means f16 subgroup matrices (tensor cores). */
export type KernelFeature = 'shader-f16' | 'subgroups' | 'subgroup-matrix' | 'timestamp-query';

export interface GpuOptions {
  /** Request only WebGPU's default limits, as a strict browser would give. */
  defaultLimits?: boolean;
  /** Features to leave off even if the adapter has them (e.g. to test the plain f32 path). */
  disable?: KernelFeature[];
  label?: string;
  /**
   * Treat the device as allowing at most this many bytes per storage binding (and buffer), to rehearse
   * a smaller device such as a browser's 128 MiB default, or to test code that splits large weights.
   */
  maxBindingBytes?: number;
}

const WANTED_FEATURES = [
  'shader-f16',
  'subgroups',
  'timestamp-query',
  'chromium-experimental-subgroup-matrix',
] as const;

/**
 * A WebGPU device with what every kernel needs: capabilities, a pipeline cache, a buffer pool, error
 * tracking and device-loss handling. Get one with `requestNodeGpu()` (Node) or `requestBrowserGpu()`.
 *
 * ```ts
 * const gpu = await requestNodeGpu();
 * const x = gpu.tensor('f32', [2, 3], new Float32Array([1, 2, 3, 4, 5, 6]));
 * console.log(await gpu.read(x));
 * gpu.destroy();
 * ```
 */
export class Gpu {
  readonly caps: Capabilities;
  readonly features: Set<string>;
  readonly limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupsPerDimension: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    minUniformBufferOffsetAlignment: number;
  };
  /**
   * Most floating-point operations a kernel may put in one dispatch. Operating systems reset a GPU whose
   * work does not yield for too long (Windows TDR: 2 s by default), and many GPUs cannot preempt inside a
   * dispatch, so kernels with 7B-sized shapes split their grid into several dispatches under this budget.
   * 2^36 (69 GFLOP) is 0.2 s at the 300 GFLOP/s a WGSL matmul reaches on an integrated GPU, and still
   * 190 tiles of 128 x 128 at K = 11008, enough to fill an H100's 132 SMs. Lower it for slower devices,
   * raise it where no watchdog applies.
   */
  maxDispatchFlops = 2 ** 36;
  readonly pipelines: PipelineCache;
  readonly pool: BufferPool;
  /** Bind groups and the uniform arena shared by every recorder (bind-groups.ts). */
  readonly bindGroups: BindGroupCache;
  /** Dispatches submitted so far (benchmarks report dispatches per call). */
  dispatchesSubmitted = 0;
  /** Resolves when the device is lost (also on destroy). */
  readonly lost: Promise<GPUDeviceLostInfo>;
  private lostInfo: GPUDeviceLostInfo | null = null;
  private destroyed = false;
  private readonly pendingErrors: Promise<void>[] = [];
  private firstError: Error | null = null;
  private readonly lostListeners = new Set<(e: DeviceLostError) => void>();

  constructor(
    readonly adapter: GPUAdapter,
    readonly device: GPUDevice,
    private readonly disabled: Set<KernelFeature>,
    /** Keeps the Node `webgpu` instance alive while the device is; dropped on destroy. */
    // biome-ignore lint/correctness/noUnusedPrivateClassMembers: held only to keep Dawn's instance reachable.
    private owner: unknown = null,
    maxBindingBytes = Number.POSITIVE_INFINITY,
  ) {
    this.caps = readCapabilities(adapter, device);
    this.features = new Set([...device.features].map(String));
    const l = device.limits;
    this.limits = {
      maxStorageBufferBindingSize: Math.min(l.maxStorageBufferBindingSize, maxBindingBytes),
      maxBufferSize: Math.min(l.maxBufferSize, maxBindingBytes),
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      minUniformBufferOffsetAlignment: l.minUniformBufferOffsetAlignment,
    };
    this.pipelines = new PipelineCache(device, (label, p) => this.track(label, p));
    this.pool = new BufferPool((size, label) => this.createBuffer(size, label));
    this.bindGroups = new BindGroupCache(device);
    this.lost = device.lost.then((info) => {
      this.lostInfo = info;
      if (!this.destroyed) {
        const err = new DeviceLostError(
          `The GPU device was lost (${info.reason || 'unknown reason'}${info.message ? `: ${info.message}` : ''}).`,
        );
        for (const fn of this.lostListeners) fn(err);
      }
      return info;
    });
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.firstError ??= new GpuError(`GPU error: ${e.message}`);
    });
  }

  /** Whether a kernel may use a feature: the device has it and the caller did not disable it. */
  has(feature: KernelFeature): boolean {
    if (this.disabled.has(feature)) return false;
    if (feature === 'subgroup-matrix') {
      return (
        this.features.has('chromium-experimental-subgroup-matrix') &&
        this.features.has('shader-f16') &&
        this.caps.subgroupMatrixConfigs.some((c) => c.componentType === 'f16')
      );
    }
    return this.features.has(feature);
  }

  /** Subgroup size kernels may assume as a minimum (0 when subgroups are off). */
  get subgroupMinSize(): number {
    return this.has('subgroups') ? (this.caps.subgroupSizes?.min ?? 0) : 0;
  }

  /** Called with a one-sentence error when the device is lost (not on `destroy()`). */
  onLost(fn: (e: DeviceLostError) => void): () => void {
    this.lostListeners.add(fn);
    return () => this.lostListeners.delete(fn);
  }

  get isLost(): boolean {
    return this.lostInfo !== null;
  }

  assertAlive(): void {
    if (this.destroyed) throw new DeviceLostError('The GPU device was already released.');
    if (this.lostInfo) {
      throw new DeviceLostError(
        `The GPU device was lost (${this.lostInfo.reason || 'unknown reason'}${this.lostInfo.message ? `: ${this.lostInfo.message}` : ''}).`,
      );
    }
  }

  pipeline(spec: PipelineSpec): GPUComputePipeline {
    return this.pipelines.get(spec);
  }

  recorder(opts: { profile?: boolean } = {}): Recorder {
    return new Recorder(this, opts.profile ?? this.profiling !== null);
  }

  /** Per-label GPU time of every dispatch while profiling (see `startProfiling`). */
  private profiling: Promise<DispatchTiming[]>[] | null = null;

  /**
   * Makes every recorder time its dispatches with timestamp queries until `stopProfiling`, which
   * returns milliseconds and call counts per kernel label. For benchmarks and `LLARA_PROFILE=1` runs.
   */
  startProfiling(): void {
    if (!this.features.has('timestamp-query'))
      throw new GpuError('Profiling needs the timestamp-query feature.');
    this.profiling = [];
  }

  /** @internal called by profiled recorders after submit. */
  collectTimings(p: Promise<DispatchTiming[]>): void {
    this.profiling?.push(p);
  }

  async stopProfiling(): Promise<Map<string, { ms: number; calls: number }>> {
    const all = (await Promise.all(this.profiling ?? [])).flat();
    this.profiling = null;
    const out = new Map<string, { ms: number; calls: number }>();
    for (const t of all) {
      const e = out.get(t.label) ?? { ms: 0, calls: 0 };
      e.ms += t.ms;
      e.calls++;
      out.set(t.label, e);
    }
    return new Map([...out].sort((a, b) => b[1].ms - a[1].ms));
  }

  /** Throws if `bytes` cannot live in one storage binding on this device. */
  checkBindingSize(bytes: number, what: string): void {
    const limit = Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
    if (bytes > limit) {
      throw new GpuLimitError(
        `${what} needs ${formatBytes(bytes)} in one buffer, more than this device allows per binding (${formatBytes(limit)}); split it by rows.`,
      );
    }
  }

  /**
   * A new tensor, optionally filled. Data for f16/bf16 is raw bits (Uint16Array); see `half.ts`.
   * Tensors come from the pool unless `pooled: false`.
   */
  tensor(
    dtype: DType,
    shape: readonly number[],
    data?: ArrayBufferView,
    opts: { label?: string; pooled?: boolean } = {},
  ): Tensor {
    this.assertAlive();
    const label = opts.label ?? `${dtype}[${shape.join('x')}]`;
    const bytes = tensorByteLength(dtype, shape);
    this.checkBindingSize(bytes, `Tensor ${label}`);
    const pooled = opts.pooled ?? true;
    const buffer = pooled
      ? this.pool.acquire(bytes, label)
      : this.createBuffer(BufferPool.roundSize(bytes), label);
    const t = new Tensor(this, buffer, dtype, shape, label, pooled);
    if (data) this.write(t, data);
    return t;
  }

  /** A tensor filled with zeros (pooled buffers are reused, so they are cleared explicitly). */
  zeros(dtype: DType, shape: readonly number[], opts: { label?: string; pooled?: boolean } = {}): Tensor {
    const t = this.tensor(dtype, shape, undefined, opts);
    const enc = this.device.createCommandEncoder();
    enc.clearBuffer(t.buffer);
    this.device.queue.submit([enc.finish()]);
    this.pool.flush();
    return t;
  }

  write(t: Tensor, data: ArrayBufferView, byteOffset = 0): void {
    if (data.byteLength + byteOffset > t.buffer.size) {
      throw new Error(`${t}: ${data.byteLength} bytes do not fit its ${t.buffer.size}-byte buffer`);
    }
    const padded = data.byteLength % 4 === 0 ? data : padTo4(data);
    this.device.queue.writeBuffer(t.buffer, byteOffset, padded.buffer, padded.byteOffset, padded.byteLength);
  }

  /** Copies a tensor back to the CPU (raw bits for f16/bf16). Reports any GPU error first. */
  async read(t: Tensor): Promise<HostArray> {
    const bytes = await this.readBytes(t.buffer, t.byteLength);
    return hostArrayFor(t.dtype, bytes, isQuantFormat(t.dtype) ? t.byteLength / 4 : t.size);
  }

  async readBytes(buffer: GPUBuffer, byteLength: number, offset = 0): Promise<ArrayBuffer> {
    this.assertAlive();
    const size = Math.ceil(byteLength / 4) * 4;
    const staging = this.device.createBuffer({
      size: Math.max(size, 4),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, offset, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    this.pool.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      // Chromium rejects the map of a lost device before `device.lost` resolves: give the loss a moment
      // to arrive so the caller gets the one-sentence DeviceLostError, not the bare map failure.
      if (!this.lostInfo) await Promise.race([this.lost, new Promise((r) => setTimeout(r, 1000))]);
      this.assertAlive();
      throw e;
    }
    const out = staging.getMappedRange().slice(0, byteLength);
    staging.unmap();
    staging.destroy();
    await this.checkErrors();
    return out;
  }

  /** Waits for queued work and throws the first validation/out-of-memory error seen, if any. */
  async checkErrors(): Promise<void> {
    await Promise.all(this.pendingErrors.splice(0));
    if (this.firstError) {
      const e = this.firstError;
      this.firstError = null;
      throw e;
    }
    this.assertAlive();
  }

  /** Waits until the GPU has finished everything submitted so far. */
  async sync(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    await this.checkErrors();
  }

  /** Releases the device; Node can exit afterwards. Safe to call twice. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pool.trim();
    this.bindGroups.destroy();
    this.device.destroy();
    this.owner = null;
  }

  private createBuffer(size: number, label: string): GPUBuffer {
    if (size > this.limits.maxBufferSize) {
      throw new GpuLimitError(
        `Buffer ${label} needs ${formatBytes(size)}, more than this device's maxBufferSize.`,
      );
    }
    this.device.pushErrorScope('out-of-memory');
    const buf = this.device.createBuffer({
      size,
      label,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    this.track(label, this.device.popErrorScope(), true);
    return buf;
  }

  private track(label: string, p: Promise<GPUError | null>, oom = false): void {
    this.pendingErrors.push(
      p.then((err) => {
        if (!err || this.firstError) return;
        this.firstError = oom
          ? new GpuLimitError(`The GPU ran out of memory allocating ${label}: ${err.message}`)
          : new GpuError(`WGSL/pipeline error in ${label}: ${err.message}`);
      }),
    );
  }
}

function padTo4(data: ArrayBufferView): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.byteLength / 4) * 4);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return out;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/**
 * Adapter -> Gpu with the best features and limits the adapter offers. Shared by the Node and browser
 * entries; `gpuLike` is `navigator.gpu` or Dawn's instance.
 */
export async function requestGpu(
  gpuLike: GPU | null | undefined,
  opts: GpuOptions & { powerPreference?: GPUPowerPreference; owner?: unknown; noAdapterHint: string },
): Promise<Gpu> {
  const adapter = gpuLike
    ? await gpuLike.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' })
    : null;
  if (!adapter) throw new GpuUnavailableError(`No WebGPU adapter was found: ${opts.noAdapterHint}.`);
  const disabled = new Set(opts.disable ?? []);
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f)).filter(
    (f) =>
      !(
        (f === 'shader-f16' && disabled.has('shader-f16')) ||
        (f === 'subgroups' && disabled.has('subgroups')) ||
        (f === 'chromium-experimental-subgroup-matrix' && disabled.has('subgroup-matrix'))
      ),
  ) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  if (!opts.defaultLimits) {
    for (const k in adapter.limits) {
      const v = (adapter.limits as unknown as Record<string, number>)[k];
      // Dynamic offsets are unused; asking for Dawn's huge values only makes it print warnings.
      if (typeof v === 'number' && !k.startsWith('maxDynamic')) requiredLimits[k] = v;
    }
  }
  const device = await adapter.requestDevice({
    requiredFeatures,
    requiredLimits,
    label: opts.label ?? 'llara',
  });
  return new Gpu(adapter, device, disabled, opts.owner, opts.maxBindingBytes);
}
