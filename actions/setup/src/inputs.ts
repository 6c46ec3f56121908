// actions/setup inputs, keyed by their action.yml names and parsed once.
import * as core from '@actions/core';
import semver from 'semver';
import { UserError } from '../../../shared/errors';
import { repositoryName } from '../../../shared/identity';
import { DEFAULT_FORK_WAIT_SECONDS } from '../../../shared/fork-claim';
import { getBoolean, getSeconds, getString, parseUrl } from '../../../shared/inputs';

/** What the `version` input asks for. */
export type VersionSpec =
  | { kind: 'latest' }
  /** One version, cleaned (`v1.2.3` -> `1.2.3`). */
  | { kind: 'exact'; version: string }
  /** A semver range such as `1.x`, `^1.2` or `1.2`. */
  | { kind: 'range'; range: string };

export interface Inputs {
  version: VersionSpec;
  /** Where the release manifest is: the input, else DEPOT_MANIFEST_URL, else this repository's latest release. */
  'manifest-url': string;
  oidc: boolean;
  project: string;
  'broker-url': string;
  'oidc-audience': string;
  /** Seconds a fork pull request waits for its claimed isolated token. */
  'fork-wait': number;
  'configure-docker': boolean;
}

export function getInputs(env: NodeJS.ProcessEnv = process.env): Inputs {
  return {
    version: parseVersionSpec(core.getInput('version')),
    'manifest-url': manifestUrl(core.getInput('manifest-url'), env),
    oidc: getBoolean('oidc'),
    project: getString('project'),
    'broker-url': parseUrl('broker-url', getString('broker-url')),
    'oidc-audience': getString('oidc-audience'),
    'fork-wait': getSeconds('fork-wait', DEFAULT_FORK_WAIT_SECONDS),
    'configure-docker': getBoolean('configure-docker'),
  };
}

/** Inputs that do nothing as set: each gets one warning line rather than being ignored silently. */
export function unusedInputs(inputs: Inputs): string[] {
  if (inputs.oidc) return [];
  const set = (['project', 'broker-url', 'oidc-audience'] as const).filter((name) => inputs[name] !== '');
  return set.map((name) => `Input \`${name}\` is only used with \`oidc: true\`: it is ignored.`);
}

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

/** The manifest of this repository's latest GitHub release (owner/repo from package.json at build time). */
export function defaultManifestUrl(): string {
  return `https://github.com/${repositoryName()}/releases/latest/download/manifest.json`;
}

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
