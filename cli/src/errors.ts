// The two ways a depot command fails on purpose: a user error (one line, exit 1 unless told otherwise) and
// "unavailable" (exit 69, EX_UNAVAILABLE): the broker or the cache registry could not be reached before the build
// started, the one status the actions' buildx-fallback keys on.

/** EX_UNAVAILABLE from sysexits.h. */
export const EXIT_UNAVAILABLE = 69;

export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export class UnavailableError extends UserError {
  constructor(message: string) {
    super(message, EXIT_UNAVAILABLE);
    this.name = 'UnavailableError';
  }
}

/** The message of anything thrown, for one-line reports. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
