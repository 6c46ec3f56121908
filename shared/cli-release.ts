// The `version` and `manifest-url` inputs that choose a depot CLI release (setup's, and build-push's and bake's when
// they install the CLI themselves), parsed once. Light on purpose: the build actions parse these at startup, while
// the installer itself (cli-installer.ts, with @actions/tool-cache) is loaded only when the CLI is missing.
import * as core from '@actions/core';
import semver from 'semver';
import pkg from '../package.json' with { type: 'json' };
import { UserError } from './errors';
import { repositoryName } from './identity';
import type { VersionSpec } from './types/cli-release';

export type { CliInstallRequest, VersionSpec } from './types/cli-release';

/**
 * The version of this action: package.json `version`, bundled at build time. `npm run release:cli` releases the CLI
 * under the same version, so the CLI built from the action's own commit is the one it asks for by default.
 */
export function actionVersion(): string {
  return pkg.version;
}

/** An exact version, a range, or `latest` ('' too); anything else fails naming the input. */
export function parseVersionSpec(raw: string): VersionSpec {
  const value = raw.trim();
  if (value === '' || value.toLowerCase() === 'latest') return { kind: 'latest' };
  const exact = semver.valid(semver.clean(value));
  if (exact) return { kind: 'exact', version: exact };
  if (semver.validRange(value)) return { kind: 'range', range: value };
  throw new UserError(
    `Input \`version\` must be an exact version such as 1.2.3, \`latest\`, or a semver range such as 1.x; got "${value}".`,
  );
}

/** build-push's and bake's `version`: empty means the release matching this action, else the latest. */
export function parseBuildVersionSpec(raw: string, own = actionVersion()): VersionSpec {
  return raw.trim() === '' ? { kind: 'preferred', version: own } : parseVersionSpec(raw);
}

/** The spec as a log line says it. */
export function describeVersionSpec(spec: VersionSpec): string {
  switch (spec.kind) {
    case 'latest':
      return 'latest';
    case 'exact':
      return spec.version;
    case 'range':
      return spec.range;
    case 'preferred':
      return `${spec.version} (this action's version)`;
    default: {
      const impossible: never = spec;
      throw new Error(`unknown version spec ${JSON.stringify(impossible)}`);
    }
  }
}

/** The manifest of this repository's latest GitHub release (owner/repo from package.json at build time). */
export function defaultManifestUrl(): string {
  return `https://github.com/${repositoryName()}/releases/latest/download/manifest.json`;
}

/** The input, else DEPOT_MANIFEST_URL, else the latest release's; an http(s) URL, its credentials masked. */
export function manifestUrl(input: string, env: NodeJS.ProcessEnv): string {
  const [from, value] = input
    ? ['Input `manifest-url`', input]
    : env.DEPOT_MANIFEST_URL
      ? ['DEPOT_MANIFEST_URL', env.DEPOT_MANIFEST_URL]
      : ['', defaultManifestUrl()];
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new UserError(`${from} must be an http(s) URL of a release manifest.json, got "${value}".`);
  }
  // Credentials in the URL (a private mirror) are masked before any log line can carry them.
  for (const part of [url.username, url.password]) if (part) core.setSecret(decodeURIComponent(part));
  return url.href;
}
