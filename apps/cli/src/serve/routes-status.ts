/**
 * `GET /health` (200 only while the model and index are loaded, else 503 with the state),
 * `GET /info` (model, adapter, recipe, base-weight format, dims, device, batching, index, limits) and `GET /metrics`
 * (Prometheus text).
 */
import { resolve } from 'node:path';
import { IvfIndex } from '@llara/index';
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './route-context.ts';

export function registerStatus(app: FastifyInstance, ctx: RouteContext, adapter: string | undefined): void {
  app.get('/health', async (_request, reply) => {
    const state = ctx.engine.state;
    if (state !== 'ready') reply.code(503).header('retry-after', '5');
    return { status: state };
  });

  app.get('/info', async () => {
    const e = ctx.engine;
    const s = e.served;
    return {
      model: resolve(e.modelDir),
      model_name: ctx.modelName,
      adapter: adapter ? resolve(adapter) : null,
      recipe: e.recipeName,
      base: e.base,
      dims: e.dim,
      device: e.device,
      state: e.state,
      batching: e.mode,
      device_reloads: e.reloads,
      index: s
        ? {
            dir: resolve(s.dir),
            kind: s.index instanceof IvfIndex ? 'ivf' : 'flat',
            count: s.index.size,
            dims: s.index.dims,
            dtype: s.index.dtype,
            ...(s.index instanceof IvfIndex ? { nlist: s.index.nlist, nprobe: s.index.nprobe } : {}),
            texts: s.texts !== null,
          }
        : null,
      limits: ctx.limits,
    };
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });
}
