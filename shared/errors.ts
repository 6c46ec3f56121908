// The two error helpers every part uses: the actions, the CLI and the broker.

/**
 * An error the user can fix: its message is one line that says what was wrong and what to do. It is printed as is
 * (no stack trace): by the action runner as the step's failure, by the CLI before it exits with `exitCode`.
 * Anything else is reported as an unexpected failure.
 */
export class UserError extends Error {
  override readonly name: string = 'UserError';
  constructor(
    message: string,
    /** The CLI's exit status for it. */
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** The message of any thrown value, on one line. */
export function errorMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : typeof err === 'string' ? err : JSON.stringify(err);
  return (text ?? String(err)).replace(/\s*\n\s*/g, ' ').trim();
}
