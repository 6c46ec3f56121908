// What we need to know about the installed buildx: its version (to refuse a flag it is too old for, with the
// version that flag needs). Debian's build prints `github.com/docker/buildx 0.29.1+ds1 0.29.1+ds1-4`; semver.coerce
// reads that, and a version we cannot read is treated as current rather than refusing a feature.
import semver from 'semver';
import { UserError } from './errors';
import type { BuildxFlag, Command } from './flags';
import { minimumVersion } from './flags';
import { run } from './process';

export function parseBuildxVersion(output: string): string | undefined {
  const m = /buildx\S*\s+v?(\S+)/.exec(output.trim());
  const v = semver.coerce(m?.[1] ?? output);
  return v && v.version !== '0.0.0' ? v.version : undefined;
}

export async function buildxVersion(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const res = await run('docker', ['buildx', 'version'], { env, capture: true });
  if (res.code !== 0) {
    throw new UserError(
      '`docker buildx version` failed: install the buildx plugin (scripts/engine.sh up does it on Debian).',
    );
  }
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
