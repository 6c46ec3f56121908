// actions/setup: install the depot CLI into the tool cache and PATH, then optionally export a project token and
// run `depot configure-docker`. Each phase in its own log group; the work is in the modules beside this one.
import * as core from '@actions/core';
import { Installer } from '../../../shared/cli-installer';
import { getGithubContext } from '../../../shared/github';
import { run } from '../../../shared/runner';
import { setOutputs } from '../../../shared/outputs';
import { traced } from '../../../shared/trace';
import { defaultTokenDeps } from '../../../shared/token';
import { configureDocker } from './configure-docker';
import { getInputs, unusedInputs } from './inputs';
import { exportProjectToken } from './project-token';

async function main(): Promise<void> {
  const inputs = getInputs();
  for (const warning of unusedInputs(inputs)) core.warning(warning);
  const installed = await core.group('Install depot', () =>
    traced('install (tool cache)', () => new Installer().install(inputs.version, inputs['manifest-url'])),
  );
  core.addPath(installed.bin);
  await setOutputs({ version: installed.version, path: installed.dir });

  if (inputs.oidc) {
    await core.group('Project token', () =>
      traced('token exchange', () => exportProjectToken(inputs, defaultTokenDeps(getGithubContext()))),
    );
  }
  if (inputs['configure-docker']) {
    await core.group('depot configure-docker', () =>
      traced('configure-docker', () => configureDocker(installed)),
    );
  }
}

void run(main);
