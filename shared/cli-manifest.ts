// The depot CLI's release manifest, the one `npm run release:cli` writes: which versions exist, the latest, and per version one tarball
// and its SHA-256 per `<os>-<arch>`. Reading it strictly, and choosing the version and the build from it.
import semver from 'semver';
import { UserError } from './errors';
import type { VersionSpec } from './types/cli-release';

export interface Build {
  /** Absolute: relative urls in the manifest are resolved against the manifest's own URL. */
  url: string;
  /** Lower-case hex. */
  sha256: string;
}

export interface Manifest {
  /** Where the manifest was read from (for messages). */
  source: string;
  latest: string;
  /** version -> `<os>-<arch>` -> build */
  versions: Record<string, Record<string, Build>>;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Parses manifest JSON read from `source` (its URL); anything malformed fails in one line naming the field. */
export function parseManifest(text: string, source: string): Manifest {
  const bad = (what: string) =>
    new UserError(`The release manifest at ${redactUrl(source)} is not usable: ${what}.`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw bad('it is not JSON');
  }
  if (!isObject(raw) || !isObject(raw.versions)) throw bad('it has no `versions` object');
  const versions: Manifest['versions'] = {};
  for (const [key, builds] of Object.entries(raw.versions)) {
    const version = semver.valid(semver.clean(key));
    if (!version) throw bad(`\`versions\` has "${key}", which is not a semver version`);
    if (!isObject(builds)) throw bad(`\`versions.${key}\` is not an object`);
    const entries: Record<string, Build> = {};
    for (const [platform, build] of Object.entries(builds)) {
      const where = `\`versions.${key}.${platform}\``;
      if (!isObject(build) || typeof build.url !== 'string' || build.url === '')
        throw bad(`${where} has no url`);
      if (typeof build.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(build.sha256)) {
        throw bad(`${where} has no valid sha256`);
      }
      let url: URL;
      try {
        url = new URL(build.url, source);
      } catch {
        throw bad(`${where} has an unreadable url`);
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw bad(`${where} is not an http(s) url`);
      entries[platform] = { url: url.href, sha256: build.sha256.toLowerCase() };
    }
    versions[version] = entries;
  }
  const known = Object.keys(versions);
  if (known.length === 0) throw bad('it lists no versions');
  let latest = typeof raw.latest === 'string' ? semver.valid(semver.clean(raw.latest)) : null;
  if (raw.latest !== undefined && !latest) throw bad('`latest` is not a semver version');
  if (latest && !versions[latest]) throw bad(`\`latest\` is ${latest}, which \`versions\` does not list`);
  latest ??= semver.rsort([...known])[0] ?? '';
  return { source, latest, versions };
}

/** The version `spec` selects from the manifest, or a one-line failure listing what exists. */
export function resolveVersion(manifest: Manifest, spec: VersionSpec): string {
  const known = semver.rsort(Object.keys(manifest.versions));
  const listing = `the manifest at ${redactUrl(manifest.source)} has ${summarize(known)}`;
  switch (spec.kind) {
    case 'latest':
      return manifest.latest;
    case 'exact':
      if (manifest.versions[spec.version]) return spec.version;
      throw new UserError(
        `depot ${spec.version} does not exist: ${listing}. Set \`version\` to one of them.`,
      );
    case 'preferred':
      // The action's own release when there is one (a mirror may lag, a fork may not release the CLI): else latest.
      return manifest.versions[spec.version] ? spec.version : manifest.latest;
    case 'range': {
      const match = semver.maxSatisfying(known, spec.range);
      if (match) return match;
      throw new UserError(
        `No depot version matches "${spec.range}": ${listing}. Set \`version\` to one of them.`,
      );
    }
    default: {
      const impossible: never = spec;
      throw new Error(`unknown version spec ${JSON.stringify(impossible)}`);
    }
  }
}

/** The build of `version` for `platform` (`<os>-<arch>`), or a one-line failure naming the platforms there are. */
export function buildFor(manifest: Manifest, version: string, platform: string): Build {
  const builds = manifest.versions[version] ?? {};
  const build = builds[platform];
  if (build) return build;
  const there = Object.keys(builds).sort();
  throw new UserError(
    `depot ${version} has no build for ${platform} (it has ${there.length > 0 ? there.join(', ') : 'none'}): ` +
      'run this step on one of those, or pick a version built for this runner.',
  );
}

function summarize(versions: string[]): string {
  const shown = versions.slice(0, 10).join(', ');
  return versions.length > 10 ? `${shown} and ${versions.length - 10} older` : shown;
}

/** A URL fit for a message: no user name, password or query (signed URLs carry credentials there). */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    url.username = '';
    url.password = '';
    const query = url.search ? '?…' : '';
    url.search = '';
    url.hash = '';
    return `${url.href}${query}`;
  } catch {
    return '(unreadable URL)';
  }
}
