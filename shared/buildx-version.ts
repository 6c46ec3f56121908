// Reading the version `docker buildx version` prints. Only the parser lives here (semver, nothing else), so the CLI
// can share it without bundling shared/buildx.ts's action-side probe and gates.
import semver from 'semver';

/**
 * `github.com/docker/buildx 0.29.1+ds1 0.29.1+ds1-4` -> 0.29.1; `github.com/docker/buildx v0.13.1 abc` -> 0.13.1.
 * A version we cannot read (or a dev build's 0.0.0) is undefined: callers treat it as current.
 */
export function parseBuildxVersion(output: string): string | undefined {
  const m = /buildx\S*\s+v?(\S+)/.exec(output.trim());
  const v = semver.coerce(m?.[1] ?? output);
  return v && v.version !== '0.0.0' ? v.version : undefined;
}
