/** A mistake the user can fix (bad path, bad flag, bad file): printed as one sentence, exit code 1. */
export class UserError extends Error {
  override name = 'UserError';
}
