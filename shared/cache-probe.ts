// The cache registry probe, for the CLI (cli/src/cache.ts turns its outcome into exit 69 or a user error before any
// build starts) and for build-push and bake, which probe with the token they resolved and, when the registry and
// its token service (the broker) answered, tell the CLI so (CACHE_PROBED_ENV: the SHA-256 of that token, never the
// token): the CLI then skips its own probe, whose first request alone costs it about 40 ms of loading Node's HTTP
// stack, which the action has loaded already. Anything but `ok` is not handed over; the CLI probes and decides.
import { createHash } from 'node:crypto';
import { readProjectToken } from './contract/project-token';

export const CACHE_PROBED_ENV = 'DEPOT_CACHE_PROBED';

export type ProbeFetch = (url: string, init: RequestInit) => Promise<Response>;

export type ProbeOutcome =
  | { kind: 'ok' }
  | { kind: 'unreachable'; message: string }
  | { kind: 'token-service-unreachable'; origin: string; message: string }
  | { kind: 'token-service-failed'; origin: string; status: number }
  | { kind: 'refused'; origin: string; status: number };

export interface ProbeTarget {
  host: string;
  repository: string;
  /** The token may read the cache (the token request asks for pull on its repository). */
  read: boolean;
  /** The raw project token (a secret: only ever sent to the registry's token service). */
  raw: string;
}

function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return name === 'localhost' || name === '::1' || /^127\./.test(name);
}

export function registryBase(host: string): string {
  return `${isLoopback(host) ? 'http' : 'https'}://${host}`;
}

async function tryTwice(url: string, init: RequestInit, fetchImpl: ProbeFetch): Promise<Response | Error> {
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
 * for one with the project token.
 */
export async function probeRegistry(
  t: ProbeTarget,
  fetchImpl: ProbeFetch = (url, init) => fetch(url, init),
  trace: <T>(name: string, fn: () => Promise<T>) => Promise<T> = (_n, fn) => fn(),
): Promise<ProbeOutcome> {
  const res = await trace('GET /v2/', () => tryTwice(`${registryBase(t.host)}/v2/`, {}, fetchImpl));
  if (res instanceof Error) return { kind: 'unreachable', message: res.message };
  await res.body?.cancel();
  const challenge = res.headers.get('www-authenticate') ?? '';
  if (res.status !== 401 || !/^bearer\s/i.test(challenge)) return { kind: 'ok' };
  const params = Object.fromEntries(
    [...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]?.toLowerCase() ?? '', m[2] ?? '']),
  );
  const realm = params.realm;
  if (!realm) return { kind: 'ok' };
  const url = new URL(realm);
  if (params.service) url.searchParams.set('service', params.service);
  if (t.read) url.searchParams.set('scope', `repository:${t.repository}:pull`);
  const auth = `Basic ${Buffer.from(`depot:${t.raw}`).toString('base64')}`;
  const answer = await trace('registry token', () =>
    tryTwice(url.toString(), { headers: { authorization: auth } }, fetchImpl),
  );
  if (answer instanceof Error) {
    return { kind: 'token-service-unreachable', origin: url.origin, message: answer.message };
  }
  await answer.body?.cancel();
  if (answer.status >= 500 || answer.status === 429) {
    return { kind: 'token-service-failed', origin: url.origin, status: answer.status };
  }
  if (answer.status === 401 || answer.status === 403) {
    return { kind: 'refused', origin: url.origin, status: answer.status };
  }
  return { kind: 'ok' };
}

/** What CACHE_PROBED_ENV holds for `raw`: its SHA-256, hex. */
export function probedMark(raw: string): string {
  return createHash('sha256').update(raw.trim()).digest('hex');
}

/** The cache a raw project token names (its claims read unverified, as the CLI reads them); undefined for none. */
export function tokenCache(raw: string): ProbeTarget | undefined {
  const [header = '', payload = ''] = raw.trim().split('.');
  try {
    const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    const token = readProjectToken(
      decode(header) as { typ?: unknown },
      decode(payload) as Record<string, unknown>,
    );
    if (!token.cache || token.isolated || token.expiresAt.getTime() <= Date.now()) return undefined;
    return { ...token.cache, read: token.scopes.has('cache:read'), raw: raw.trim() };
  } catch {
    return undefined;
  }
}

/**
 * The action's probe for the CLI: CACHE_PROBED_ENV for the CLI's env when the registry and its token service
 * answered for this token, else nothing (the CLI probes and decides itself). Never throws.
 */
export async function probedEnv(raw: string, fetchImpl?: ProbeFetch): Promise<Record<string, string>> {
  const target = tokenCache(raw);
  if (!target) return {};
  try {
    const outcome = await probeRegistry(target, fetchImpl);
    return outcome.kind === 'ok' ? { [CACHE_PROBED_ENV]: probedMark(raw) } : {};
  } catch {
    return {};
  }
}
