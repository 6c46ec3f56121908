// The installed buildx's version, and gating inputs on it as docker's actions do (action-side: it runs docker
// through shared/exec; the CLI uses only the parser, from shared/buildx-version.ts).
import semver from 'semver';
import { parseBuildxVersion } from './buildx-version';
import { UserError } from './errors';
import { exec } from './exec';

export interface BuildxVersion {
  /** As parsed with semver.coerce; undefined when buildx is missing or says nothing usable. */
  version?: string;
  raw: string;
}

export async function buildxVersion(docker = 'docker'): Promise<BuildxVersion> {
  try {
    const res = await exec(docker, ['buildx', 'version'], { silent: true, captureStdout: true });
    if (res.exitCode !== 0) return { raw: '' };
    const version = parseBuildxVersion(res.stdout);
    return version ? { version, raw: res.stdout.trim() } : { raw: res.stdout.trim() };
  } catch {
    return { raw: '' };
  }
}

/**
 * Whether the installed buildx satisfies `range`. An unknown version is treated as current: users of a build we
 * cannot read (Debian's `+ds1` builds, dev builds) are not refused a feature.
 */
export function satisfies(v: BuildxVersion, range: string): boolean {
  return v.version === undefined || semver.satisfies(v.version, range);
}

/** Fails with the input's name and the version it needs, as docker/build-push-action does. */
export function requireBuildx(v: BuildxVersion, input: string, minimum: string): void {
  if (!satisfies(v, `>=${minimum}`)) {
    throw new UserError(
      `Input \`${input}\` needs buildx >= ${minimum}; this runner has buildx ${v.version}.`,
    );
  }
}
