/**
 * Field checks shared by the routes: each failure is one sentence naming the field (never quoting the
 * request's text), 422 for a wrong value and 413 for a size limit.
 */
import type { Role } from '@llara/trainer';
import { invalid, overLimit } from './errors.ts';
import { LIMIT_FLAGS, type ServeLimits } from './limits.ts';

const typeName = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`;

export function requireObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid(
      `The request body must be a JSON object, not ${body === undefined ? 'empty' : typeName(body)}.`,
    );
  return body as Record<string, unknown>;
}

/** An optional string field with a fixed set of values. */
export function oneOf<T extends string>(
  o: Record<string, unknown>,
  field: string,
  values: readonly T[],
  fallback: T,
): T {
  const v = o[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string' || !values.includes(v as T))
    throw invalid(`"${field}" must be ${values.map((x) => `"${x}"`).join(' or ')}.`);
  return v as T;
}

export function optionalBoolean(o: Record<string, unknown>, field: string): boolean {
  const v = o[field];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw invalid(`"${field}" must be true or false, not ${typeName(v)}.`);
  return v;
}

export function optionalInt(o: Record<string, unknown>, field: string, min: number): number | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw invalid(`"${field}" must be an integer >= ${min}.`);
  return v;
}

export function optionalString(o: Record<string, unknown>, field: string): string | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(`"${field}" must be a string, not ${typeName(v)}.`);
  return v;
}

/** One text to embed: a non-empty string within `--max-input-chars`. `what` names it in errors. */
export function checkText(v: unknown, what: string, limits: ServeLimits): string {
  if (typeof v !== 'string')
    throw invalid(
      typeof v === 'number'
        ? `${what} is a number: token-id inputs are not supported, send text.`
        : `${what} must be a string, not ${typeName(v)}.`,
    );
  if (v.trim().length === 0) throw invalid(`${what} is empty.`);
  if (v.length > limits.maxInputChars)
    throw overLimit(
      `${what} is longer than ${limits.maxInputChars} characters (${LIMIT_FLAGS.maxInputChars}).`,
    );
  return v;
}

export const ROLES: readonly Role[] = ['passage', 'query'];
