// The two ways a depot command fails on purpose: a user error (one line, exit 1 unless told otherwise) and
// "unavailable" (exit 69, EX_UNAVAILABLE): the broker or the cache registry could not be reached before the build
// started, the one status the actions' buildx-fallback keys on.
import { EXIT_UNAVAILABLE } from '../../shared/contract/cli';
import { UserError } from '../../shared/errors';

export { EXIT_UNAVAILABLE } from '../../shared/contract/cli';
export { errorMessage, UserError } from '../../shared/errors';

export class UnavailableError extends UserError {
  override readonly name = 'UnavailableError';
  constructor(message: string) {
    super(message, EXIT_UNAVAILABLE);
  }
}
