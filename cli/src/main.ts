// The `depot` executable. Every failure ends with one plain line on stderr (never a stack trace, never a secret)
// and the exit status: buildx's, 69 when the cache registry or the broker could not be reached before the build,
// 1 for a user error, 128 + N when stopped by signal N. Cleanups (temporary Docker configs) run however it ends.
import { depot } from './depot';
import { errorMessage, UserError } from './errors';
import { log } from './log';
import { installSignalHandlers, runCleanups } from './process';
import { traceProc, traceStartup } from '../../shared/trace';

traceProc(`cli ${process.argv[2] ?? ''}`.trim());
traceStartup();

installSignalHandlers();
depot(process.argv.slice(2), process.env).then(
  (code) => {
    runCleanups();
    process.exitCode = code;
  },
  (err: unknown) => {
    runCleanups();
    if (err instanceof UserError) {
      log.error(err.message);
      process.exitCode = err.exitCode;
    } else {
      log.error(`unexpected failure: ${errorMessage(err).split('\n')[0] ?? ''}`);
      process.exitCode = 1;
    }
  },
);
