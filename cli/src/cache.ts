// The project cache for one build: which registry flags the token's scope allows, its key (--cache-key, else the
// target), and the reachability probe that decides exit 69 before any build starts.
import { UnavailableError, UserError } from './errors';
import type { ProjectToken } from './token';
import { traced } from '../../shared/trace';

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

function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return name === 'localhost' || name === '::1' || /^127\./.test(name);
}

export function registryBase(host: string): string {
  return `${isLoopback(host) ? 'http' : 'https'}://${host}`;
}

type Fetch = typeof fetch;

async function tryTwice(url: string, init: RequestInit, fetchImpl: Fetch): Promise<Response | Error> {
  let last: Error = new Error('no attempt');
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      return await fetchImpl(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(5000) });
    } catch (err: unknown) {
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
      last = new Error(cause ?? (err instanceof Error ? err.message : String(err)));
    }
  }
  return last;
}

/**
 * GET /v2/ on the cache registry (2 tries); when it asks for a bearer token, ask its token service (the broker)
 * for one with this project token. Unreachable -> exit 69; a refused token -> a user error.
 */
export async function probeCache(token: ProjectToken, fetchImpl: Fetch = fetch): Promise<void> {
  if (!token.cache) return;
  const { host, repository } = token.cache;
  const res = await traced('GET /v2/', () => tryTwice(`${registryBase(host)}/v2/`, {}, fetchImpl));
  if (res instanceof Error) {
    throw new UnavailableError(
      `The cache registry ${host} cannot be reached (${res.message}): no build was started.`,
    );
  }
  await res.body?.cancel();
  const challenge = res.headers.get('www-authenticate') ?? '';
  if (res.status !== 401 || !/^bearer\s/i.test(challenge)) return;
  const params = Object.fromEntries(
    [...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]?.toLowerCase() ?? '', m[2] ?? '']),
  );
  const realm = params.realm;
  if (!realm) return;
  const url = new URL(realm);
  if (params.service) url.searchParams.set('service', params.service);
  if (token.scopes.has('cache:read')) url.searchParams.set('scope', `repository:${repository}:pull`);
  const auth = `Basic ${Buffer.from(`depot:${token.raw}`).toString('base64')}`;
  const answer = await traced('registry token', () =>
    tryTwice(url.toString(), { headers: { authorization: auth } }, fetchImpl),
  );
  if (answer instanceof Error) {
    throw new UnavailableError(
      `The cache registry's token service ${url.origin} (the broker) cannot be reached (${answer.message}): no build was started.`,
    );
  }
  await answer.body?.cancel();
  if (answer.status >= 500 || answer.status === 429) {
    throw new UnavailableError(
      `The broker's token service at ${url.origin} answered HTTP ${answer.status}: no build was started.`,
    );
  }
  if (answer.status === 401 || answer.status === 403) {
    throw new UserError(
      `The broker at ${url.origin} refused the project token for the cache registry (HTTP ${answer.status}): get a fresh project token.`,
    );
  }
}
