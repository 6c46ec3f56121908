// The installed buildx's version and the builder's BuildKit version, and gating inputs on them as docker's actions
// do (action-side: it runs docker through shared/exec; the CLI uses only the parsers, from shared/buildx-version.ts).
import semver from 'semver';
import {
  INFO_FORMAT,
  parseBuilderInspect,
  parseBuildxVersion,
  parseImageStore,
  parsePluginsBuildx,
} from './buildx-version';
import type { BuilderInfo } from './buildx-version';
import type { DockerFacts, ImageStore } from './contract/docker-facts';
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

/** What a build step learns from docker before it builds (probeDocker). */
export interface DockerProbe {
  buildx: BuildxVersion;
  /** `docker buildx inspect [builder]`, undefined when it failed (the reason is in the log). */
  builder?: BuilderInfo;
  /** The image store of the daemon the default docker context names; undefined when docker info failed. */
  store?: ImageStore;
}

/**
 * The buildx version, the builder and the image store at once: `docker info` (the buildx plugin's version among
 * the CLI plugins, and the daemon's DriverStatus) beside `docker buildx inspect [builder]`, the two run together.
 * Two docker processes in parallel where `docker buildx version`, `docker buildx inspect` and the CLI's own inspect
 * and `docker info` were four in a row. A buildx version docker info does not give is asked of `docker buildx
 * version`, as before.
 */
export async function probeDocker(
  builder: string,
  opts: { docker?: string; log?: (message: string) => void } = {},
): Promise<DockerProbe> {
  const docker = opts.docker ?? 'docker';
  const info = async (): Promise<{ buildx?: BuildxVersion; store?: ImageStore }> => {
    try {
      const res = await exec(docker, ['info', '--format', `{{json .ClientInfo.Plugins}}\n${INFO_FORMAT}`], {
        silent: true,
        captureStdout: true,
        stdin: 'ignore',
      });
      const [plugins = '', status = ''] = res.stdout.split('\n');
      const buildx = parsePluginsBuildx(plugins);
      return {
        ...(buildx ? { buildx } : {}),
        store: res.exitCode === 0 ? parseImageStore(status) : undefined,
      };
    } catch {
      return {};
    }
  };
  const [facts, inspected] = await Promise.all([info(), inspectBuilder(builder, opts)]);
  const buildx: BuildxVersion = facts.buildx ?? (await buildxVersion(docker));
  return {
    buildx,
    ...(inspected ? { builder: inspected } : {}),
    ...(facts.store ? { store: facts.store } : {}),
  };
}

/**
 * The facts for the CLI (shared/contract/docker-facts.ts). The image store is the default context's: it is handed
 * over only for a docker-driver builder on that context (endpoint `default`, or a daemon URL), else the CLI asks.
 */
export function dockerFactsFor(asked: string, probe: DockerProbe): DockerFacts {
  const facts: DockerFacts = {};
  if (probe.buildx.version) facts.buildx = probe.buildx.version;
  const { builder } = probe;
  if (builder?.name && builder.driver) {
    const endpoint = builder.nodes[0]?.endpoint;
    const defaultContext = !endpoint || endpoint === 'default' || endpoint.includes('://');
    const store = builder.driver === 'docker' && defaultContext ? probe.store : undefined;
    facts.builder = { asked, name: builder.name, driver: builder.driver, ...(store ? { store } : {}) };
  }
  return facts;
}
