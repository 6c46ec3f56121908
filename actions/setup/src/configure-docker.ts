// `configure-docker: true`: the installed CLI routes the job's later plain `docker build` steps through depot.
import { join } from 'node:path';
import { UserError } from '../../../shared/errors';
import { CommandNotFound, exec } from '../../../shared/exec';
import type { ExecOptions } from '../../../shared/exec';
import type { Installed } from '../../../shared/cli-installer';

export async function configureDocker(installed: Installed, opts: ExecOptions = {}): Promise<void> {
  const depot = join(installed.bin, 'depot');
  let result;
  try {
    result = await exec(depot, ['configure-docker'], opts);
  } catch (err: unknown) {
    if (err instanceof CommandNotFound) {
      throw new UserError(`${depot} cannot be run: the installed depot ${installed.version} is broken.`);
    }
    throw err;
  }
  if (result.exitCode !== 0) {
    throw new UserError(
      `depot configure-docker failed with: ${result.lastStderrLine || `exit code ${result.exitCode}`}`,
    );
  }
}
