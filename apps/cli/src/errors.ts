import { DeviceLostError } from '@llara/gpu';

/** A mistake the user can fix (bad path, bad flag, bad file): printed as one sentence, exit code 1. */
export class UserError extends Error {
  override name = 'UserError';
}

/**
 * A run stopped by the user (Ctrl-C) after saving its work: the result line is already on stdout;
 * this message goes to stderr and the exit code is 130 (128 + SIGINT, the shell's convention), so
 * `llara pretrain ... && llara export ...` does not carry on with a partial result.
 */
export class Interrupted extends Error {
  override name = 'Interrupted';
  readonly exitCode = 130;
}

/**
 * A training error as the user should see it: a lost device (driver reset, GPU unplugged, OOM kill) is
 * not a bug, and the checkpoints already written let the same command continue with `--resume`.
 */
export function trainingError(e: unknown, out: string): unknown {
  if (e instanceof DeviceLostError)
    return new UserError(
      `${e.message.replace(/\.$/, '')}; the checkpoints saved so far are in ${out}, so rerun the same command with --resume to continue.`,
    );
  return e;
}
