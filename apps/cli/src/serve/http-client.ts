/**
 * A small HTTP client for the service's tests and load test: any body (also malformed), any headers,
 * the status, headers and parsed JSON back. Node's fetch on 127.0.0.1 only.
 */
export interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field by the caller.
  json: any;
  text: string;
}

export interface CallOptions {
  /** Sent as is instead of JSON.stringify(body). */
  raw?: string | Uint8Array;
  headers?: Record<string, string>;
  apiKey?: string;
  signal?: AbortSignal;
}

export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  o: CallOptions = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...o.headers };
  let payload: string | Uint8Array | undefined;
  if (o.raw !== undefined || body !== undefined) {
    headers['content-type'] ??= 'application/json';
    payload = o.raw ?? JSON.stringify(body);
  }
  if (o.apiKey) headers.authorization = `Bearer ${o.apiKey}`;
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: payload as BodyInit | undefined,
    signal: o.signal,
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON (/metrics): the caller reads `text`.
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** A row from an /v1/embeddings item: float array or base64 little-endian float32. */
export function rowOf(embedding: number[] | string): Float32Array {
  if (typeof embedding === 'string') {
    const b = Buffer.from(embedding, 'base64');
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  }
  return Float32Array.from(embedding);
}

/** A Prometheus sample's value from /metrics text (first match), or NaN. */
export function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : Number.NaN;
}
