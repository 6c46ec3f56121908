// The installed buildx's version, and gating inputs on it as docker's actions do.
import semver from 'semver';
import { UserError } from './errors';
import { exec } from './exec';

export interface BuildxVersion {
  /** As parsed with semver.coerce; undefined when buildx is missing or says nothing usable. */
  version?: string;
  raw: string;
}

/**
 * `github.com/docker/buildx 0.29.1+ds1 0.29.1+ds1-4` -> 0.29.1; `github.com/docker/buildx v0.13.1 abc` -> 0.13.1.
 * A version we cannot read (or a dev build's 0.0.0) is undefined: callers treat it as current. The CLI reads it too.
 */
export function parseBuildxVersion(output: string): string | undefined {
  const m = /buildx\S*\s+v?(\S+)/.exec(output.trim());
  const v = semver.coerce(m?.[1] ?? output);
  return v && v.version !== '0.0.0' ? v.version : undefined;
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
