/**
 * `POST /v1/embeddings`, OpenAI's request and response, plus `input_type` (query | passage, default
 * passage: LLaRA wraps the two in different prompts) and `truncate` (opt-in, as TEI's).
 *
 * ```sh
 * curl -s localhost:8080/v1/embeddings -H 'content-type: application/json' \
 *   -d '{"input": ["what is a wing?"], "input_type": "query"}'
 * # {"object":"list","data":[{"object":"embedding","index":0,"embedding":[...]}],"model":"stories260K","usage":{"prompt_tokens":42,"total_tokens":42}}
 * ```
 * `prompt_tokens` counts the tokens that ran, the recipe's prompt included. A passage may also be
 * `{"title", "text"}` (the recipe's passage prompt has a title slot, as `llara embed` rows do); `model`
 * is accepted and ignored (one model is served), `dimensions` must be the model's.
 */
import type { Passage, Role } from '@llara/trainer';
import type { FastifyInstance } from 'fastify';
import { invalid, overLimit } from './errors.ts';
import { LIMIT_FLAGS, type ServeLimits } from './limits.ts';
import {
  checkText,
  oneOf,
  optionalBoolean,
  optionalInt,
  optionalString,
  ROLES,
  requireObject,
} from './request-fields.ts';
import type { RouteContext } from './route-context.ts';

export interface EmbeddingsRequest {
  /** Strings, or for passages `{"title", "text"}` objects (LLaRA's passage prompt has a title slot). */
  inputs: (string | Passage)[];
  role: Role;
  encoding: 'float' | 'base64';
  truncate: boolean;
  dimensions?: number;
}

/** A string, or for passages an object with a `text` and an optional `title`. */
function checkInput(v: unknown, what: string, role: Role, limits: ServeLimits): string | Passage {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return checkText(v, what, limits);
  if (role === 'query') throw invalid(`${what} must be a string for "input_type": "query".`);
  const o = v as Record<string, unknown>;
  const text = checkText(o.text, `${what}.text`, limits);
  if (o.title === undefined || o.title === null) return { text };
  if (typeof o.title !== 'string') throw invalid(`${what}.title must be a string.`);
  if (o.title.length > limits.maxInputChars)
    throw overLimit(
      `${what}.title is longer than ${limits.maxInputChars} characters (${LIMIT_FLAGS.maxInputChars}).`,
    );
  return { title: o.title, text };
}

/** Checks a request body; throws the 422/413 ApiError a client should see. */
export function parseEmbeddingsRequest(body: unknown, limits: ServeLimits): EmbeddingsRequest {
  const o = requireObject(body);
  const raw = o.input;
  if (raw === undefined || raw === null)
    throw invalid('"input" is required: a string or an array of strings.');
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) throw invalid('"input" is an empty array.');
  if (list.length > limits.maxInputs)
    throw overLimit(
      `"input" has ${list.length} items, more than ${limits.maxInputs} (${LIMIT_FLAGS.maxInputs}).`,
    );
  const role = oneOf(o, 'input_type', ROLES, 'passage');
  const inputs = list.map((v, i) =>
    checkInput(v, Array.isArray(raw) ? `input ${i}` : '"input"', role, limits),
  );
  optionalString(o, 'model');
  optionalString(o, 'user');
  return {
    inputs,
    role,
    encoding: oneOf(o, 'encoding_format', ['float', 'base64'] as const, 'float'),
    truncate: optionalBoolean(o, 'truncate'),
    dimensions: optionalInt(o, 'dimensions', 1),
  };
}

/** A row as OpenAI's base64 encoding: the little-endian float32 bytes. */
export function toBase64(row: Float32Array): string {
  return Buffer.from(row.buffer, row.byteOffset, row.byteLength).toString('base64');
}

export function registerEmbeddings(app: FastifyInstance, ctx: RouteContext): void {
  app.post('/v1/embeddings', async (request, reply) => {
    const req = parseEmbeddingsRequest(request.body, ctx.limits);
    if (req.dimensions !== undefined && req.dimensions !== ctx.engine.dim)
      throw invalid(`"dimensions" must be ${ctx.engine.dim} (this model's size) or left out.`);
    ctx.noteInputs(
      request,
      req.inputs.map((t) => (typeof t === 'string' ? t : `${t.title ?? ''} ${t.text}`.trim())),
    );
    const rows = await ctx.run(request, reply, async (signal) => {
      const layouts = req.inputs.map((t, i) => ctx.engine.layout(t, req.role, req.truncate, i));
      const rows = await ctx.engine.embed(layouts, signal);
      return { rows, tokens: layouts.reduce((s, l) => s + l.ids.length, 0) };
    });
    return {
      object: 'list',
      data: rows.rows.map((row, index) => ({
        object: 'embedding',
        index,
        embedding: req.encoding === 'base64' ? toBase64(row) : Array.from(row),
      })),
      model: ctx.modelName,
      usage: { prompt_tokens: rows.tokens, total_tokens: rows.tokens },
    };
  });
}
