/**
 * Errors the service answers with: an HTTP status, a kind (the `type` field and the `kind` label of
 * the errors metric) and one sentence that never quotes the request's text. The body follows
 * OpenAI's shape, so OpenAI clients surface the sentence:
 *
 * ```json
 * { "error": { "message": "input must not be empty.", "type": "invalid_request", "code": 422 } }
 * ```
 */

/** Every kind of error the service answers with (also the values of the metric's `kind` label). */
export type ErrorKind =
  | 'bad_json'
  | 'bad_encoding'
  | 'unsupported_media_type'
  | 'invalid_request'
  | 'limit'
  | 'unauthorized'
  | 'not_found'
  | 'queue_full'
  | 'timeout'
  | 'unavailable'
  | 'shutting_down'
  | 'internal';

export class ApiError extends Error {
  override name = 'ApiError';

  constructor(
    readonly status: number,
    readonly kind: ErrorKind,
    message: string,
    /** Extra response headers (Retry-After, WWW-Authenticate). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): { error: { message: string; type: ErrorKind; code: number } } {
    return { error: { message: this.message, type: this.kind, code: this.status } };
  }
}

/** 422: the request is well-formed JSON but a field is wrong (type, empty, unknown value). */
export const invalid = (message: string): ApiError => new ApiError(422, 'invalid_request', message);

/** 413: a size limit, named with the flag that sets it. */
export const overLimit = (message: string): ApiError => new ApiError(413, 'limit', message);

/** 503 with Retry-After: the service cannot answer now but will (loading, device lost, timeout). */
export const unavailable = (kind: ErrorKind, message: string, retryAfterS = 1): ApiError =>
  new ApiError(503, kind, message, { 'retry-after': String(retryAfterS) });
