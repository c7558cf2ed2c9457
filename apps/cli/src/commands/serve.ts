/**
 * `llara serve`: one model loaded once, served over HTTP with dynamic batching, backpressure, limits,
 * health, info and Prometheus metrics, and optionally search over an index from `llara index build`
 * (routes in ../serve/). Ctrl-C or SIGTERM finishes the requests in flight, refuses new ones and exits.
 */
import type { QuantFormat } from '@llara/gpu';
import type { Command } from 'commander';
import { UserError } from '../errors.ts';
import { quantizeOption } from '../quantize-option.ts';
import { Engine } from '../serve/engine.ts';
import { DEFAULT_LIMITS, LIMIT_FLAGS, type ServeLimits } from '../serve/limits.ts';
import { createServer, type Server } from '../serve/server.ts';
import { intFlag } from './options.ts';

export interface ServeOptions {
  model?: string;
  adapter?: string;
  recipe: string;
  quantize?: QuantFormat;
  index?: string;
  host: string;
  port: number;
  apiKey?: string;
  logInputs?: boolean;
  limits: ServeLimits;
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  engine: Engine;
  server: Server;
  /** Finishes in-flight requests, refuses new ones, frees the GPU. Idempotent. */
  close(): Promise<void>;
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|::1|\[::1\])$/;

/** The warning printed when the service is reachable from other machines without a key, else null. */
export function exposureWarning(host: string, apiKey: string | undefined): string | null {
  if (apiKey || LOOPBACK.test(host)) return null;
  return `warning: listening on ${host} without an API key: anyone who can reach this address can use the model; set --api-key or LLARA_API_KEY.`;
}

/** Loads the model (and index), then listens. Used by the command and by tests (port 0). */
export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { limits } = o;
  if (limits.maxBatchTokens < limits.maxLen)
    throw new UserError(
      `${LIMIT_FLAGS.maxBatchTokens} ${limits.maxBatchTokens} is below ${LIMIT_FLAGS.maxLen} ${limits.maxLen}: one full-length input would not fit a batch.`,
    );
  const warning = exposureWarning(o.host, o.apiKey);
  if (warning) log(warning);
  const engine = await Engine.open({
    model: o.model,
    adapter: o.adapter,
    recipe: o.recipe,
    quantize: o.quantize,
    index: o.index,
    limits,
    log,
    onBatch: (b) => server?.metrics.batch(b),
    onReload: () => server?.metrics.reloads.inc(),
  });
  let server: Server | undefined;
  server = createServer(engine, {
    limits,
    apiKey: o.apiKey,
    logInputs: o.logInputs,
    log,
    adapter: o.adapter,
  });
  let url: string;
  try {
    url = await server.app.listen({ host: o.host, port: o.port });
  } catch (e) {
    await engine.close();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE')
      throw new UserError(`Port ${o.port} on ${o.host} is in use; choose another --port.`);
    if (code === 'EACCES')
      throw new UserError(`Port ${o.port} on ${o.host} needs privileges; choose a port above 1023.`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
      throw new UserError(`--host ${o.host} is not an address of this machine.`);
    throw e;
  }
  let closing: Promise<void> | null = null;
  const s = server;
  return {
    url,
    engine,
    server: s,
    close() {
      closing ??= (async () => {
        await s.close();
        await engine.close();
      })();
      return closing;
    },
  };
}

/** The command line: ServeOptions with the limits as flat flags (`--request-timeout` in ms). */
type ServeFlags = Omit<ServeOptions, 'limits' | 'log'> &
  Omit<ServeLimits, 'requestTimeoutMs'> & { requestTimeout: number };

export function registerServe(program: Command): void {
  const d = DEFAULT_LIMITS;
  program
    .command('serve')
    .description(
      'Serve embeddings (OpenAI-compatible /v1/embeddings) and search (/search) over HTTP, with /health, /info and /metrics.',
    )
    .option('--model <dir>', 'HF LLaMA model folder (default: bundled stories260K)')
    .option('--adapter <dir>', 'PEFT LoRA adapter folder')
    .addOption(quantizeOption())
    .option('--recipe <name>', 'flag | paper | repllama', 'flag')
    .option('--index <dir>', 'index directory from `llara index build` to serve POST /search over')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', intFlag('--port', 0), 8080)
    .option(
      '--api-key <key>',
      'require "Authorization: Bearer <key>" on every route but /health (or LLARA_API_KEY)',
    )
    .option('--log-inputs', 'put request texts in the access log (off: logs never hold them)')
    .option('--max-len <n>', 'tokens per input, prompt included', intFlag('--max-len', 8), d.maxLen)
    .option(
      '--max-batch-tokens <n>',
      'padded tokens per forward pass',
      intFlag('--max-batch-tokens', 8),
      d.maxBatchTokens,
    )
    .option(
      '--max-batch-requests <n>',
      'inputs per forward pass (1: no batching)',
      intFlag('--max-batch-requests', 1),
      d.maxBatchRequests,
    )
    .option(
      '--max-concurrent-requests <n>',
      'requests admitted at once; more get 429',
      intFlag('--max-concurrent-requests', 1),
      d.maxConcurrentRequests,
    )
    .option('--max-inputs <n>', 'inputs per /v1/embeddings request', intFlag('--max-inputs', 1), d.maxInputs)
    .option('--max-input-chars <n>', 'characters per input', intFlag('--max-input-chars', 1), d.maxInputChars)
    .option('--max-body-bytes <n>', 'bytes per request body', intFlag('--max-body-bytes', 64), d.maxBodyBytes)
    .option('--max-k <n>', 'largest k a search may ask for', intFlag('--max-k', 1), d.maxK)
    .option(
      '--request-timeout <ms>',
      'answer 503 when a request takes longer',
      intFlag('--request-timeout', 1),
      d.requestTimeoutMs,
    )
    .addHelpText(
      'after',
      `\nExample:\n  pnpm llara serve --index index/ --adapter adapter/ --port 8080\n  curl -s localhost:8080/v1/embeddings -H 'content-type: application/json' -d '{"input": "what is a wing?", "input_type": "query"}'\n  curl -s localhost:8080/search -H 'content-type: application/json' -d '{"query": "what is a wing?", "k": 3}'`,
    )
    .action(async (f: ServeFlags) => {
      const running = await startServer({
        model: f.model,
        adapter: f.adapter,
        recipe: f.recipe,
        quantize: f.quantize,
        index: f.index,
        host: f.host,
        port: f.port,
        apiKey: f.apiKey ?? (process.env.LLARA_API_KEY || undefined),
        logInputs: f.logInputs,
        limits: {
          maxBatchTokens: f.maxBatchTokens,
          maxBatchRequests: f.maxBatchRequests,
          maxConcurrentRequests: f.maxConcurrentRequests,
          maxInputs: f.maxInputs,
          maxInputChars: f.maxInputChars,
          maxLen: f.maxLen,
          maxBodyBytes: f.maxBodyBytes,
          maxK: f.maxK,
          requestTimeoutMs: f.requestTimeout,
        },
      });
      const e = running.engine;
      process.stderr.write(
        `serving ${e.modelDir} (${e.recipeName}, ${e.dim} dims, batching ${e.mode}) on ${e.device} at ${running.url}\n`,
      );
      console.log(JSON.stringify({ url: running.url, dims: e.dim, batching: e.mode }));
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.stderr.write(`${signal}: finishing requests in flight, refusing new ones\n`);
          process.off('SIGINT', onInt);
          process.off('SIGTERM', onTerm);
          running.close().then(resolve, resolve);
        };
        const onInt = () => stop('SIGINT');
        const onTerm = () => stop('SIGTERM');
        process.on('SIGINT', onInt);
        process.on('SIGTERM', onTerm);
      });
      process.stderr.write('stopped\n');
    });
}
