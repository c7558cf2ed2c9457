/**
 * The HTTP service on fastify: JSON bodies checked as strict UTF-8, a body-size limit, optional
 * bearer auth on every route but /health, one-sentence JSON errors with the right status, an access
 * log that never holds request text unless asked (`logInputs`), and Prometheus metrics.
 *
 * ```ts
 * const engine = await Engine.open({ recipe: 'flag', limits: DEFAULT_LIMITS, log: console.error });
 * const server = createServer(engine, { limits: DEFAULT_LIMITS, log: console.error });
 * await server.app.listen({ host: '127.0.0.1', port: 0 });
 * ```
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { basename } from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { JobCancelled } from './batcher.ts';
import type { Engine } from './engine.ts';
import { ApiError, overLimit } from './errors.ts';
import { LIMIT_FLAGS, type ServeLimits } from './limits.ts';
import { ServeMetrics } from './metrics.ts';
import { Admission } from './queue.ts';
import { INPUTS, routeContext } from './route-context.ts';
import { registerEmbeddings } from './routes-embeddings.ts';
import { registerSearch } from './routes-search.ts';
import { registerStatus } from './routes-status.ts';

export interface ServerOptions {
  limits: ServeLimits;
  /** Bearer token required on every route but /health. */
  apiKey?: string;
  /** Put the request's texts in the access log (off by default: logs never hold request text). */
  logInputs?: boolean;
  /** The access log and notes (the CLI: stderr). */
  log: (line: string) => void;
  adapter?: string;
}

export interface Server {
  app: FastifyInstance;
  metrics: ServeMetrics;
  admission: Admission;
  /**
   * Stops accepting requests, answers those in flight (each with `Connection: close`, so no
   * keep-alive socket holds the close open) and resolves when all are answered.
   */
  close(): Promise<void>;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Strict UTF-8 then JSON: a body that is neither gets a 400 naming which, never a parser's echo of it. */
function parseJson(body: Buffer): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new ApiError(400, 'bad_encoding', 'The request body is not valid UTF-8.');
  }
  if (text.trim() === '')
    throw new ApiError(400, 'bad_json', 'The request body is empty; send a JSON object.');
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, 'bad_json', 'The request body is not valid JSON.');
  }
}

/** Fastify's own errors (body too large, wrong content type, ...) as the service's one-sentence errors. */
function asApiError(e: unknown, limits: ServeLimits): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof JobCancelled) return new ApiError(503, 'timeout', e.message);
  const f = e as FastifyError;
  if (f.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return overLimit(
      `The request body is larger than ${limits.maxBodyBytes} bytes (${LIMIT_FLAGS.maxBodyBytes}).`,
    );
  if (f.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return new ApiError(
      415,
      'unsupported_media_type',
      'The request body must be JSON (Content-Type: application/json).',
    );
  if (typeof f.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500)
    return new ApiError(f.statusCode, 'bad_json', 'The request could not be read.');
  return new ApiError(500, 'internal', 'Internal error; the server log has the details.');
}

export function createServer(engine: Engine, options: ServerOptions): Server {
  const { limits, log } = options;
  const app = Fastify({
    logger: false,
    bodyLimit: limits.maxBodyBytes,
    // A client that sends its body slower than this is cut off (Node answers 408).
    requestTimeout: limits.requestTimeoutMs,
    return503OnClosing: true,
  });
  const metrics = new ServeMetrics(
    () => engine.batcher.queued,
    () => engine.gpuPool(),
  );
  const admission = new Admission(limits.maxConcurrentRequests);
  const modelName = basename(engine.modelDir);
  const ctx = routeContext(engine, limits, metrics, admission, modelName, options.logInputs ?? false);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, parseJson(body as Buffer));
    } catch (e) {
      done(e as Error, undefined);
    }
  });

  if (options.apiKey) {
    const expected = digest(options.apiKey);
    app.addHook('onRequest', async (request) => {
      if (request.method === 'GET' && request.url.split('?')[0] === '/health') return;
      const header = request.headers.authorization ?? '';
      const m = /^Bearer\s+(.+)$/i.exec(header);
      if (!m || !timingSafeEqual(digest(m[1].trim()), expected))
        throw new ApiError(
          401,
          'unauthorized',
          'A valid API key is required: send "Authorization: Bearer <key>".',
          {
            'www-authenticate': 'Bearer',
          },
        );
    });
  }

  app.setErrorHandler((e, _request, reply) => {
    const err = asApiError(e, limits);
    if (err.kind === 'internal')
      log(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    metrics.error(err.kind);
    reply.code(err.status).headers(err.headers).send(err.body());
  });
  app.setNotFoundHandler((request, reply) => {
    const err = new ApiError(
      404,
      'not_found',
      `There is no route ${request.method} ${request.url.split('?')[0].slice(0, 80)}; see GET /info.`,
    );
    metrics.error(err.kind);
    reply.code(404).send(err.body());
  });

  app.addHook('onResponse', async (request: FastifyRequest, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, seconds);
    const texts = (request as unknown as Record<symbol, string[] | undefined>)[INPUTS];
    log(
      `${request.method} ${route} ${reply.statusCode} ${(seconds * 1000).toFixed(1)} ms${texts ? ` inputs=${JSON.stringify(texts)}` : ''}`,
    );
  });

  let closing = false;
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  registerEmbeddings(app, ctx);
  registerSearch(app, ctx);
  registerStatus(app, ctx, options.adapter);
  return {
    app,
    metrics,
    admission,
    close() {
      closing = true;
      return app.close();
    },
  };
}
