/**
 * An error the user can fix: its message is one line that says what was wrong and what to do. The action runner
 * prints it as is (no stack trace); anything else is reported as an unexpected failure.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
}

/** The message of any thrown value, on one line. */
export function errorMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : typeof err === 'string' ? err : JSON.stringify(err);
  return (text ?? String(err)).replace(/\s*\n\s*/g, ' ').trim();
}
