/**
 * `POST /search`: the query is embedded with the recipe's query prompt (through the same batcher),
 * then the index is searched: exactly, or over the IVF lists `nprobe` names; with `filter.ids`, exactly
 * over those ids only. Ranking is the index package's (score desc, then id desc).
 *
 * ```sh
 * curl -s localhost:8080/search -H 'content-type: application/json' -d '{"query": "what is a wing?", "k": 3}'
 * # {"hits":[{"rank":1,"id":"12","score":0.83,"title":"...","text":"..."}, ...],"usage":{"prompt_tokens":49}}
 * ```
 */
import { IvfIndex } from '@llara/index';
import type { FastifyInstance } from 'fastify';
import { ApiError, invalid, overLimit } from './errors.ts';
import { LIMIT_FLAGS, type ServeLimits } from './limits.ts';
import { checkText, optionalBoolean, optionalInt, requireObject } from './request-fields.ts';
import type { RouteContext } from './route-context.ts';

export interface SearchRequest {
  query: string;
  k: number;
  ids?: string[];
  nprobe?: number;
  truncate: boolean;
}

export function parseSearchRequest(body: unknown, limits: ServeLimits): SearchRequest {
  const o = requireObject(body);
  if (o.query === undefined || o.query === null) throw invalid('"query" is required: a string.');
  const query = checkText(o.query, '"query"', limits);
  const k = optionalInt(o, 'k', 1) ?? 10;
  if (k > limits.maxK) throw overLimit(`"k" is ${k}, more than ${limits.maxK} (${LIMIT_FLAGS.maxK}).`);
  let ids: string[] | undefined;
  if (o.filter !== undefined && o.filter !== null) {
    const f = requireFilter(o.filter);
    if (!Array.isArray(f.ids) || !f.ids.every((id) => typeof id === 'string'))
      throw invalid('"filter.ids" must be an array of strings.');
    ids = f.ids as string[];
  }
  return { query, k, ids, nprobe: optionalInt(o, 'nprobe', 1), truncate: optionalBoolean(o, 'truncate') };
}

function requireFilter(v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw invalid('"filter" must be an object like {"ids": ["a", "b"]}.');
  return v as Record<string, unknown>;
}

export function registerSearch(app: FastifyInstance, ctx: RouteContext): void {
  app.post('/search', async (request, reply) => {
    const served = ctx.engine.served;
    if (!served) throw new ApiError(404, 'not_found', 'This server has no index; start it with --index DIR.');
    const req = parseSearchRequest(request.body, ctx.limits);
    if (req.nprobe !== undefined && !(served.index instanceof IvfIndex))
      throw invalid('"nprobe" applies to IVF indexes, and this server holds an exact (flat) index.');
    ctx.noteInputs(request, [req.query]);
    return ctx.run(request, reply, async (signal) => {
      const layout = ctx.engine.layout(req.query, 'query', req.truncate);
      const [q] = await ctx.engine.embed([layout], signal);
      const hits = ctx.engine.search(q, req.k, req.ids, req.nprobe);
      return {
        hits: hits.map((h, r) => ({ rank: r + 1, id: h.id, score: h.score, ...served.texts?.get(h.id) })),
        usage: { prompt_tokens: layout.ids.length, total_tokens: layout.ids.length },
      };
    });
  });
}
