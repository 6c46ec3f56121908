// One bundle serves main and post: the first run saves a flag, the post run finds it. Main first checks the runner
// is Linux (shared/runner-os.ts), before its inputs are read or anything runs.
import * as core from '@actions/core';
import { errorMessage, UserError } from './errors';
import { requireLinuxRunner } from './runner-os';

const POST_FLAG = 'isPost';

export async function run(main: () => Promise<void>, post?: () => Promise<void>): Promise<void> {
  const isPost = core.getState(POST_FLAG) === 'true';
  if (!isPost) core.saveState(POST_FLAG, 'true');
  try {
    if (isPost) await post?.();
    else {
      requireLinuxRunner();
      await main();
    }
  } catch (err: unknown) {
    if (err instanceof Error && err.stack && !(err instanceof UserError)) core.debug(err.stack);
    const message = errorMessage(err);
    core.setFailed(err instanceof UserError ? message : `Unexpected error: ${message}`);
  }
}
