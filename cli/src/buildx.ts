// What we need to know about the installed buildx: its version (to refuse a flag it is too old for, with the
// version that flag needs), read by shared/'s parser: a version we cannot read is treated as current.
import semver from 'semver';
import { UserError } from './errors';
import type { BuildxFlag, Command } from './flags';
import { minimumVersion } from './flags';
import { parseBuildxVersion } from '../../shared/buildx-version';
import { INSTALL_DOCKER, run } from './process';

export { parseBuildxVersion };

export async function buildxVersion(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const res = await run('docker', ['buildx', 'version'], { env, capture: true });
  if (res.exitCode !== 0) throw new UserError(`\`docker buildx version\` failed: ${INSTALL_DOCKER}.`);
  return parseBuildxVersion(res.stdout);
}

/** Refuses the first flag (or depot feature) that needs a newer buildx than `version`. */
export function checkFlagVersions(
  command: Command,
  version: string | undefined,
  flags: readonly BuildxFlag[],
  features: ReadonlyArray<{ name: string; since: string }> = [],
): void {
  if (!version) return;
  const needs = [
    ...flags.map((f) => ({ name: `--${f.name}`, since: minimumVersion(command, f.name) })),
    ...features,
  ];
  for (const { name, since } of needs) {
    if (since && semver.lt(version, since)) {
      throw new UserError(
        `${name} needs docker buildx ${since} or newer, but buildx ${version} is installed: upgrade buildx or drop ${name}.`,
      );
    }
  }
}
