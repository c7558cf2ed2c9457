/** Flag parsers shared by commands: each failure is one sentence naming the flag. */
import { InvalidArgumentError } from 'commander';

export function intFlag(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got "${v}".`);
    return n;
  };
}

export function floatFlag(name: string, min = Number.NEGATIVE_INFINITY) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min)
      throw new InvalidArgumentError(`${name} must be a number >= ${min}, got "${v}".`);
    return n;
  };
}

/** A number > 0 (a temperature, a scale). */
export function positiveFlag(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a number > 0, got "${v}".`);
    return n;
  };
}

/** A probability in [0, 1) (a dropout rate: 1 would drop everything and learn nothing). */
export function fractionFlag(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1)
      throw new InvalidArgumentError(`${name} must be a number in [0, 1), got "${v}".`);
    return n;
  };
}
