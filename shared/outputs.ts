// Setting a step's outputs, each printed first: one small module, so an action that only reports (setup, the
// monorepo planner) does not bundle the build step's token resolution and depot runner.
import * as core from '@actions/core';

/** Prints each output in one group, then sets it; undefined values are left unset. */
export async function setOutputs(outputs: Record<string, string | undefined>): Promise<void> {
  await core.group('Outputs', async () => {
    for (const [name, value] of Object.entries(outputs)) {
      if (value === undefined) continue;
      core.info(`${name}: ${value}`);
      core.setOutput(name, value);
    }
  });
}
