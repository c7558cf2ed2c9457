/**
 * What every route shares: the engine, the limits, the metrics, and `run`, which wraps a request's
 * work in admission (429 when full), the request timeout (503), and cancellation when the client
 * disconnects (its queued sequences are dropped before they reach the GPU).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Engine } from './engine.ts';
import { unavailable } from './errors.ts';
import { LIMIT_FLAGS, type ServeLimits } from './limits.ts';
import type { ServeMetrics } from './metrics.ts';
import type { Admission } from './queue.ts';

/** The request's texts, kept on the request for the access log only when `--log-inputs` is set. */
export const INPUTS = Symbol('llara.inputs');

export interface RouteContext {
  engine: Engine;
  limits: ServeLimits;
  metrics: ServeMetrics;
  modelName: string;
  logInputs: boolean;
  run<T>(request: FastifyRequest, reply: FastifyReply, work: (signal: AbortSignal) => Promise<T>): Promise<T>;
  noteInputs(request: FastifyRequest, texts: string[]): void;
}

export function routeContext(
  engine: Engine,
  limits: ServeLimits,
  metrics: ServeMetrics,
  admission: Admission,
  modelName: string,
  logInputs: boolean,
): RouteContext {
  return {
    engine,
    limits,
    metrics,
    modelName,
    logInputs,
    async run(_request, reply, work) {
      const leave = admission.enter();
      metrics.inFlight.inc();
      const abort = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableFinished) abort.abort();
      };
      reply.raw.on('close', onClose);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          abort.abort();
          reject(
            unavailable(
              'timeout',
              `The request took longer than ${limits.requestTimeoutMs} ms (${LIMIT_FLAGS.requestTimeoutMs}); retry later.`,
            ),
          );
        }, limits.requestTimeoutMs);
      });
      const done = work(abort.signal);
      done.catch(() => {});
      try {
        return await Promise.race([done, timeout]);
      } finally {
        clearTimeout(timer);
        reply.raw.off('close', onClose);
        leave();
        metrics.inFlight.dec();
      }
    },
    noteInputs(request, texts) {
      if (logInputs) (request as unknown as Record<symbol, string[]>)[INPUTS] = texts;
    },
  };
}
