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
