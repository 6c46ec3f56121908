// actions/setup: install the depot CLI into the tool cache and PATH, then optionally export a project token and
// run `depot configure-docker`. Each phase in its own log group; the work is in installer.ts and project-token.ts.
import { join } from 'node:path';
import * as core from '@actions/core';
import { UserError } from '../../../shared/errors';
import { CommandNotFound, exec } from '../../../shared/exec';
import { getGithubContext } from '../../../shared/github';
import { run } from '../../../shared/runner';
import { setOutputs } from '../../../shared/step';
import { defaultTokenDeps } from '../../../shared/token';
import { getInputs, unusedInputs } from './inputs';
import { Installer } from './installer';
import { exportProjectToken } from './project-token';

async function main(): Promise<void> {
  const inputs = getInputs();
  for (const warning of unusedInputs(inputs)) core.warning(warning);
  const installed = await core.group('Install depot', () =>
    new Installer().install(inputs.version, inputs['manifest-url']),
  );
  core.addPath(installed.bin);
  await setOutputs({ version: installed.version, path: installed.dir });

  if (inputs.oidc) {
    await core.group('Project token', () => exportProjectToken(inputs, defaultTokenDeps(getGithubContext())));
  }
  if (inputs['configure-docker']) {
    await core.group('depot configure-docker', async () => {
      const depot = join(installed.bin, 'depot');
      let result;
      try {
        result = await exec(depot, ['configure-docker']);
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
    });
  }
}

void run(main);
