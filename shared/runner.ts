// One bundle serves main and post: the first run saves a flag, the post run finds it. Main first checks the runner
// is Linux (shared/runner-os.ts), before its inputs are read or anything runs.
import { basename, dirname } from 'node:path';
import * as core from '@actions/core';
import { errorMessage, UserError } from './errors';
import { requireLinuxRunner } from './runner-os';
import { traced, traceProc, traceStartup } from './trace';

const POST_FLAG = 'isPost';

export async function run(main: () => Promise<void>, post?: () => Promise<void>): Promise<void> {
  const isPost = core.getState(POST_FLAG) === 'true';
  // The bundle's folder names the action in DEPOT_TRACE spans (dist/<action>/index.js).
  traceProc(`${basename(dirname(process.argv[1] ?? ''))} ${isPost ? 'post' : 'main'}`);
  traceStartup();
  if (!isPost) core.saveState(POST_FLAG, 'true');
  try {
    if (isPost) await traced('post', async () => post?.());
    else {
      requireLinuxRunner();
      await traced('main', main);
    }
  } catch (err: unknown) {
    if (err instanceof Error && err.stack && !(err instanceof UserError)) core.debug(err.stack);
    const message = errorMessage(err);
    core.setFailed(err instanceof UserError ? message : `Unexpected error: ${message}`);
  }
}
