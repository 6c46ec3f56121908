// The installed buildx's version and the builder's BuildKit version, and gating inputs on them as docker's actions
// do (action-side: it runs docker through shared/exec; the CLI uses only the parsers, from shared/buildx-version.ts).
import semver from 'semver';
import { parseBuilderInspect, parseBuildxVersion } from './buildx-version';
import type { BuilderInfo } from './buildx-version';
import { UserError } from './errors';
import { exec } from './exec';

export { parseBuilderInspect };
export type { BuilderInfo };

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

/** Fails with the input's name and the version it needs, as docker's actions do for `call` and `vars`. */
export function requireBuildx(v: BuildxVersion, input: string, minimum: string): void {
  if (!satisfies(v, `>=${minimum}`)) {
    throw new UserError(
      `Input \`${input}\` needs buildx >= ${minimum}; this runner has buildx ${v.version}.`,
    );
  }
}

/**
 * Whether an input that buildx below `minimum` does not know can be passed. When it cannot, `warn` says it is
 * ignored (as docker's actions do for `annotations`, `build-contexts` and the attestations) and the caller leaves
 * it out.
 */
export function supportsOrWarn(
  v: BuildxVersion,
  input: string,
  minimum: string,
  warn: (message: string) => void,
): boolean {
  if (satisfies(v, `>=${minimum}`)) return true;
  warn(`Input \`${input}\` needs buildx >= ${minimum} (this runner has ${v.version}): it is ignored.`);
  return false;
}

/** `docker buildx inspect [builder]`, or undefined (with the reason in the log) when it fails. */
export async function inspectBuilder(
  builder: string,
  opts: { docker?: string; log?: (message: string) => void } = {},
): Promise<BuilderInfo | undefined> {
  const log = opts.log ?? (() => undefined);
  try {
    const res = await exec(opts.docker ?? 'docker', ['buildx', 'inspect', ...(builder ? [builder] : [])], {
      silent: true,
      captureStdout: true,
    });
    if (res.exitCode !== 0) {
      log(`docker buildx inspect failed: ${res.lastStderrLine || `exit code ${res.exitCode}`}`);
      return undefined;
    }
    return parseBuilderInspect(res.stdout);
  } catch (err: unknown) {
    log(`docker buildx inspect could not run: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

/**
 * Whether every node of the builder runs a BuildKit in `range`, by docker's actions' rule (actions-toolkit
 * BuildKit.versionSatisfies): a node whose version is unknown fails it; on the `docker` driver only moby's own
 * BuildKit (`v0.x.y-moby`) counts; a pre-release or a commit never satisfies a range. Unlike docker's, an unknown
 * version is not looked up in the builder's image: a builder we could not inspect does not satisfy it either.
 */
export function buildkitSatisfies(info: BuilderInfo | undefined, range: string): boolean {
  if (!info) return false;
  for (const node of info.nodes) {
    const version = node.buildkit;
    if (!version) return false;
    if (info.driver === 'docker' && !version.endsWith('-moby')) return false;
    if (!semver.valid(version.replace(/-moby$/, ''))) return false;
    if (!semver.satisfies(version.replace(/-moby$/, ''), range)) return false;
  }
  return true;
}

/**
 * The log line for the `build-platform` input (depot's workflows pass it): every build runs on the runner's one
 * builder, so it chooses nothing; it is accepted and passed on as `--build-platform` all the same.
 */
export function buildPlatformNote(buildPlatform: string): string | undefined {
  if (!buildPlatform) return undefined;
  return `Input \`build-platform\` (${buildPlatform}) has no effect: every build runs on this runner's one builder, platforms other than its own under QEMU emulation.`;
}
