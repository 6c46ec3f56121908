// The project cache for one build: which registry flags the token's scope allows, its key (--cache-key, else the
// target), and the reachability probe that decides exit 69 before any build starts.
import { UnavailableError, UserError } from './errors';
import type { ProjectToken } from './token';
import { traced } from '../../shared/trace';
import { probeRegistry, registryBase } from '../../shared/cache-probe';

/** The longest registry tag, and so the longest cache key. */
const MAX_TAG = 128;
const UNSAFE = /[^A-Za-z0-9_.-]/g;

/** `name` as a registry tag: other characters become `-`, no leading `.` or `-`; '' when nothing is left. */
export function tagSafe(name: string): string {
  return name
    .replace(UNSAFE, '-')
    .replace(/^[.-]+/, '')
    .slice(0, MAX_TAG);
}

/**
 * The tag-safe project cache key of one build or bake target: `key` (--cache-key) when given, else the target,
 * else `default`. With `perTarget` (a bake of several targets) the key is a prefix, `<key>-<target>`.
 */
export function cacheKey(target: string | undefined, key?: string, perTarget = false): string {
  if (!key) return tagSafe(target || 'default') || 'default';
  const base = tagSafe(key) || 'default';
  if (!perTarget || !target) return base;
  // The target keeps up to half the tag, so a long key never makes two targets share one cache.
  const suffix = `-${target.replace(UNSAFE, '-')}`.slice(0, MAX_TAG / 2);
  return `${base.slice(0, MAX_TAG - suffix.length)}${suffix}`;
}

export interface CacheFlags {
  cacheFrom?: string;
  cacheTo?: string;
}

/** The project cache flags of one build; `canExport` false (the builder cannot export cache) leaves out cacheTo. */
export function cacheFlags(token: ProjectToken | undefined, key: string, canExport = true): CacheFlags {
  if (!token || token.isolated || !token.cache) return {};
  const ref = `${token.cache.host}/${token.cache.repository}:${key}`;
  const out: CacheFlags = {};
  if (token.scopes.has('cache:read')) out.cacheFrom = `type=registry,ref=${ref}`;
  if (canExport && token.scopes.has('cache:write'))
    out.cacheTo = `type=registry,ref=${ref},mode=max,ignore-error=true`;
  return out;
}

/** The token would have this build write the project cache (so the builder's ability to export matters). */
export function writesCache(token: ProjectToken | undefined): boolean {
  return !!token?.cache && !token.isolated && token.scopes.has('cache:write');
}

/** One line saying what the token gives this build, for the log. */
export function describeCache(token: ProjectToken | undefined): string {
  if (!token)
    return 'no project token: building locally with no project cache (set DEPOT_TOKEN, or DEPOT_BROKER_URL in a CircleCI, GitLab CI or Buildkite job, or use the setup action).';
  if (token.isolated) {
    return `this build is isolated: the project token for "${token.project}" is isolated (an untrusted source such as a fork pull request, or a rule with isolated: true), so no project cache is read or written and nothing can be saved.`;
  }
  if (!token.cache)
    return `the project token for "${token.project}" names no cache registry: building with no project cache.`;
  const modes = [token.scopes.has('cache:read') ? 'read' : '', token.scopes.has('cache:write') ? 'write' : '']
    .filter(Boolean)
    .join(' and ');
  return modes
    ? `project "${token.project}": cache ${modes} at ${token.cache.host}/${token.cache.repository}`
    : `project "${token.project}": the token allows no cache access (scope "${[...token.scopes].join(' ')}").`;
}

export { registryBase };

type Fetch = typeof fetch;

/**
 * GET /v2/ on the cache registry (2 tries); when it asks for a bearer token, ask its token service (the broker)
 * for one with this project token (shared/cache-probe.ts). Unreachable -> exit 69; a refused token -> a user error.
 */
export async function probeCache(token: ProjectToken, fetchImpl: Fetch = fetch): Promise<void> {
  if (!token.cache) return;
  const { host, repository } = token.cache;
  const outcome = await probeRegistry(
    { host, repository, read: token.scopes.has('cache:read'), raw: token.raw },
    fetchImpl,
    traced,
  );
  switch (outcome.kind) {
    case 'ok':
      return;
    case 'unreachable':
      throw new UnavailableError(
        `The cache registry ${host} cannot be reached (${outcome.message}): no build was started.`,
      );
    case 'token-service-unreachable':
      throw new UnavailableError(
        `The cache registry's token service ${outcome.origin} (the broker) cannot be reached (${outcome.message}): no build was started.`,
      );
    case 'token-service-failed':
      throw new UnavailableError(
        `The broker's token service at ${outcome.origin} answered HTTP ${outcome.status}: no build was started.`,
      );
    case 'refused':
      throw new UserError(
        `The broker at ${outcome.origin} refused the project token for the cache registry (HTTP ${outcome.status}): get a fresh project token.`,
      );
    default: {
      const impossible: never = outcome;
      throw new Error(`unknown probe outcome ${JSON.stringify(impossible)}`);
    }
  }
}
