/**
 * The service's Prometheus metrics (`GET /metrics`, text format), on a registry of its own so two
 * servers in one process (tests) do not share counters. Process metrics (RSS, heap, event-loop lag)
 * come from prom-client's defaults; GPU buffer-pool bytes are read when scraped.
 *
 * ```ts
 * const m = new ServeMetrics(() => engine.gpuPool());
 * m.requests.inc({ route: '/v1/embeddings', status: '200' });
 * await m.registry.metrics(); // "# HELP llara_requests_total ..."
 * ```
 */
import type { PoolStats } from '@llara/gpu';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { BatchStats } from './batcher.ts';
import type { ErrorKind } from './errors.ts';

export class ServeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'status'>;
  readonly errors: Counter<'kind'>;
  readonly latency: Histogram<'route'>;
  readonly queueDepth: Gauge;
  readonly inFlight: Gauge;
  readonly batchSize: Histogram;
  readonly batchTokens: Histogram;
  readonly tokens: Counter;
  readonly tokensPerSecond: Gauge;
  readonly reloads: Counter;

  constructor(queued: () => number, pool: () => PoolStats | null) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'llara_' });
    this.requests = new Counter({
      name: 'llara_requests_total',
      help: 'HTTP requests answered, by route and status.',
      labelNames: ['route', 'status'],
      registers,
    });
    this.errors = new Counter({
      name: 'llara_errors_total',
      help: 'Error answers by kind (bad_json, limit, queue_full, unavailable, ...).',
      labelNames: ['kind'],
      registers,
    });
    this.latency = new Histogram({
      name: 'llara_request_duration_seconds',
      help: 'Time from request to response, by route.',
      labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'llara_queue_depth',
      help: 'Sequences waiting for a forward pass.',
      registers,
      collect() {
        this.set(queued());
      },
    });
    this.inFlight = new Gauge({
      name: 'llara_requests_in_flight',
      help: 'Requests admitted and not yet answered (limited by --max-concurrent-requests).',
      registers,
    });
    this.batchSize = new Histogram({
      name: 'llara_batch_size',
      help: 'Sequences per forward pass.',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    });
    this.batchTokens = new Histogram({
      name: 'llara_batch_padded_tokens',
      help: 'Tokens per forward pass, padding included.',
      buckets: [64, 256, 1024, 4096, 16384, 65536],
      registers,
    });
    this.tokens = new Counter({
      name: 'llara_embedded_tokens_total',
      help: 'Real (unpadded) tokens embedded; its rate is the throughput in tokens/s.',
      registers,
    });
    this.tokensPerSecond = new Gauge({
      name: 'llara_batch_tokens_per_second',
      help: 'Real tokens per second of the last forward pass.',
      registers,
    });
    this.reloads = new Counter({
      name: 'llara_device_reloads_total',
      help: 'Times the model was reloaded on a new device after the GPU device was lost.',
      registers,
    });
    const poolGauge = (name: string, help: string, key: keyof PoolStats) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const s = pool();
          if (s) this.set(s[key]);
        },
      });
    poolGauge('llara_gpu_pool_in_use_bytes', 'GPU buffer-pool bytes in use.', 'inUseBytes');
    poolGauge(
      'llara_gpu_pool_allocated_bytes',
      'GPU buffer-pool bytes allocated (in use or free).',
      'allocatedBytes',
    );
    poolGauge(
      'llara_gpu_pool_peak_in_use_bytes',
      'Most GPU buffer-pool bytes in use at once.',
      'peakInUseBytes',
    );
  }

  batch(b: BatchStats): void {
    this.batchSize.observe(b.sequences);
    this.batchTokens.observe(b.paddedTokens);
    this.tokens.inc(b.tokens);
    if (b.seconds > 0) this.tokensPerSecond.set(b.tokens / b.seconds);
  }

  error(kind: ErrorKind): void {
    this.errors.inc({ kind });
  }
}
