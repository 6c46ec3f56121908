// The one client of the token exchange (`POST <broker>/auth/oidc/<provider>`), for the actions and the depot CLI
// alike: the broker URL's rules, the POST through the proxy the environment names (HTTPS_PROXY/NO_PROXY, as
// @actions/http-client reads them), redirects followed only within the broker's origin, bounded retries on network
// errors, 5xx and 429 (honouring Retry-After) with a fresh CI token for every try, and a typed outcome: granted,
// refused (a 4xx: never hidden by a fallback) or unavailable. Callers decide what each outcome means for them
// (the actions: fail or buildx-fallback; the CLI: exit 1 or exit 69). No secret ever reaches a message.
import type { HttpClient } from '@actions/http-client';
import { UserError, errorMessage } from '../errors';
import type { CiProvider, ExchangeRequest, ExchangeSuccess } from './exchange';
import { exchangePath, parseExchangeResponse } from './exchange';

/** A URL as it may be shown: any `user:pass@` replaced by `***@`. */
function withoutCredentials(raw: string): string {
  return raw.replace(/^([^/@]*\/\/)?[^/@]*@/, '$1***@');
}

/** 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/**
 * A broker URL as given (`from` names where it came from, e.g. "DEPOT_BROKER_URL"), checked and with its trailing
 * slash stripped. The job's OIDC token travels to it, so it must be https (http only on a loopback host) and carry
 * no credentials (never echoed back).
 */
export function checkBrokerUrl(raw: string, from: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UserError(`${from} must be an https URL, got "${withoutCredentials(raw)}".`);
  }
  if (url.username || url.password) {
    throw new UserError(
      `${from} carries a user name or password (user:pass@): the broker needs none, the OIDC token is the credential; remove them.`,
    );
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new UserError(
      `${from} is http:// on ${url.hostname}, which would send the job's OIDC token unencrypted: use https:// (http is accepted only on a loopback host).`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UserError(`${from} must be an https URL, got "${withoutCredentials(raw)}".`);
  }
  return raw.replace(/\/+$/, '');
}

export interface PostOptions {
  /** Called with a proxy dispatcher when one applies (default: the global fetch). */
  fetch?: typeof fetch;
  /** Per-request timeout in ms (default 15 s). */
  timeoutMs?: number;
  /** Names the request in errors ("the token exchange", "the fork claim"). */
  what: string;
  /** Names the credential the body carries ("the OIDC token"). */
  credential: string;
  /** Names the setting that holds the broker URL, for the fix ("`broker-url`", "DEPOT_BROKER_URL"). */
  setting: string;
}

/**
 * The proxy dispatcher @actions/http-client chooses for `url` (https_proxy/HTTPS_PROXY, http_proxy/HTTP_PROXY,
 * no_proxy/NO_PROXY), undefined for none. Imported only when a proxy variable is set: it brings undici (0.8 MB of
 * JavaScript, about 40 ms of a CLI start) into the process, which the CLI otherwise never needs.
 */
async function proxyDispatcher(url: string): Promise<ReturnType<HttpClient['getAgentDispatcher']>> {
  const e = process.env;
  if (!e.https_proxy && !e.HTTPS_PROXY && !e.http_proxy && !e.HTTP_PROXY) return undefined;
  const { HttpClient } = await import('@actions/http-client');
  return new HttpClient().getAgentDispatcher(url);
}

/**
 * POSTs JSON to the broker through the proxy the environment names, following a redirect only within the broker's
 * own origin (307/308, at most 3): a redirect elsewhere would hand a credential to another host, and is a
 * UserError (a misconfiguration, not retried). Network errors are thrown as they are.
 */
export async function postJson(url: string, body: string, opts: PostOptions): Promise<Response> {
  const doFetch = opts.fetch ?? globalThis.fetch;
  let target = url;
  for (let hop = 0; ; hop++) {
    const dispatcher = await proxyDispatcher(target);
    const init: RequestInit & { dispatcher?: ReturnType<HttpClient['getAgentDispatcher']> } = {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
    };
    if (dispatcher) init.dispatcher = dispatcher;
    const res = await doFetch(target, init);
    if (res.status < 300 || res.status > 399) return res;
    const location = res.headers.get('location');
    const next = location ? new URL(location, target) : undefined;
    if (!next || next.origin !== new URL(target).origin) {
      throw new UserError(
        `The broker at ${new URL(url).origin} redirected ${opts.what} (${res.status}) to ${next ? next.host : 'nowhere'}: ${opts.credential} is never sent to another host; set ${opts.setting} to the broker's own URL.`,
      );
    }
    if ((res.status !== 307 && res.status !== 308) || hop >= 2) {
      throw new UserError(
        `The broker at ${new URL(url).origin} answered ${res.status} with a redirect to ${next.pathname}: set ${opts.setting} to the broker's own URL.`,
      );
    }
    target = next.href;
  }
}

/** The body as JSON, or undefined when it is not JSON at all (an HTML error page from a proxy). */
export async function readJson(res: Response): Promise<unknown> {
  try {
    return JSON.parse(await res.text()) as unknown;
  } catch {
    return undefined;
  }
}

/** A broker-supplied text as it may be shown: every secret replaced, on one line, at most 500 characters. */
export function clean(message: string, ...secrets: string[]): string {
  let out = message;
  for (const secret of secrets) if (secret) out = out.split(secret).join('***');
  return out
    .replace(/\s*\n\s*/g, ' ')
    .trim()
    .slice(0, 500);
}

/** `, request id X` when the broker gave one (in the body or the X-Request-Id header), else ''. */
export function requestIdOf(
  res: Response,
  bodyRequestId: string | undefined,
  ...secrets: string[]
): { requestId: string; ref: string } {
  const raw = bodyRequestId ?? res.headers.get('x-request-id') ?? '';
  const requestId = raw ? clean(raw, ...secrets).slice(0, 80) : '';
  return { requestId, ref: requestId ? `, request id ${requestId}` : '' };
}

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export const MAX_BACKOFF_MS = 10_000;
export const MAX_RETRY_AFTER_MS = 60_000;

/** 1 s, 2 s, 4 s ... at most 10 s: the pause before try `attempt + 1`. */
export function backoffMs(attempt: number): number {
  return Math.min(1000 * 2 ** (attempt - 1), MAX_BACKOFF_MS);
}

export interface ExchangeCall {
  /** The broker URL, already checked by checkBrokerUrl. */
  brokerUrl: string;
  provider: CiProvider;
  /** Sent as `project` when non-empty. */
  project?: string;
  /**
   * A fresh CI OIDC token for every try (GitHub's are single-use at the broker; CircleCI's and Buildkite's CLIs mint
   * one per call). A UserError it throws ends the exchange at once (a missing tool, a job with no OIDC); any other
   * throw counts as a failed try, its message (one clause saying what failed) the reason.
   */
  ciToken: () => Promise<string>;
  /** Names the setting that holds the broker URL in messages ("`broker-url`", "DEPOT_BROKER_URL"). */
  setting: string;
}

export interface ExchangeClientDeps {
  /** Called with a proxy dispatcher when one applies (default: the global fetch). */
  fetch?: typeof fetch;
  sleep: (ms: number) => Promise<void>;
  /** Registers a secret the moment it exists (core.setSecret, the CLI's addSecret). */
  secret: (value: string) => void;
  debug?: (message: string) => void;
  /** Tries before giving up on network errors, 5xx and 429 (default 4). */
  attempts?: number;
  /** Per-request timeout in ms. */
  timeoutMs?: number;
  now?: () => number;
}

export type ExchangeOutcome =
  | { kind: 'granted'; grant: ExchangeSuccess }
  /** A 4xx: the broker refused; `message` is clean of secrets, `requestId` '' when the broker gave none. */
  | { kind: 'refused'; status: number; code: string; message: string; requestId: string }
  /** The broker could not be used: unreachable, or 5xx/429 after every try; `reason` is one clause. */
  | { kind: 'unavailable'; reason: string };

/** The exchange, with retries: see the header of this file. */
export async function exchangeToken(call: ExchangeCall, deps: ExchangeClientDeps): Promise<ExchangeOutcome> {
  const attempts = Math.max(1, deps.attempts ?? 4);
  const debug = deps.debug ?? (() => {});
  const url = `${call.brokerUrl}${exchangePath(call.provider)}`;
  let lastProblem = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let waitMs = backoffMs(attempt);
    let ciToken: string;
    try {
      ciToken = (await call.ciToken()).trim();
      if (ciToken === '') throw new Error('the CI handed out an empty OIDC token');
    } catch (err: unknown) {
      if (err instanceof UserError) throw err;
      lastProblem = errorMessage(err);
      debug(`exchangeToken: attempt ${attempt}: ${lastProblem}`);
      if (attempt < attempts) await deps.sleep(waitMs);
      continue;
    }
    deps.secret(ciToken);
    const body: ExchangeRequest = call.project
      ? { token: ciToken, project: call.project }
      : { token: ciToken };
    let res: Response;
    try {
      res = await postJson(url, JSON.stringify(body), {
        ...(deps.fetch ? { fetch: deps.fetch } : {}),
        ...(deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {}),
        what: 'the token exchange',
        credential: 'the OIDC token',
        setting: call.setting,
      });
    } catch (err: unknown) {
      if (err instanceof UserError) throw err;
      lastProblem = `cannot reach the broker at ${call.brokerUrl} (${clean(causeOf(err), ciToken)})`;
      debug(`exchangeToken: attempt ${attempt}: ${lastProblem}`);
      if (attempt < attempts) await deps.sleep(waitMs);
      continue;
    }
    const parsed = parseExchangeResponse(await readJson(res));
    if (res.ok && parsed?.ok === true) {
      deps.secret(parsed.token);
      return { kind: 'granted', grant: parsed };
    }
    const error = parsed?.ok === false ? parsed.error : undefined;
    const code = error?.code ?? `http_${res.status}`;
    const message = clean(error?.message || res.statusText, ciToken);
    const { requestId, ref } = requestIdOf(res, error?.requestId, ciToken);
    if (res.status === 429 || res.status >= 500) {
      lastProblem = `the broker answered ${res.status} ${code}${ref}${message ? `: ${message}` : ''}`;
      const retryAfter = retryAfterMs(res.headers.get('retry-after'), deps.now?.() ?? Date.now());
      if (retryAfter !== undefined) waitMs = Math.min(retryAfter, MAX_RETRY_AFTER_MS);
      debug(`exchangeToken: attempt ${attempt}: ${lastProblem}`);
      if (attempt < attempts) await deps.sleep(waitMs);
      continue;
    }
    if (res.ok) {
      throw new UserError(`The broker at ${call.brokerUrl} answered ${res.status} without a project token.`);
    }
    return { kind: 'refused', status: res.status, code, message, requestId };
  }
  return { kind: 'unavailable', reason: `${lastProblem} after ${attempts} tries` };
}

/** fetch's "fetch failed" says nothing: its cause (ECONNREFUSED ...) does. */
function causeOf(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : '';
  const own = errorMessage(err);
  return cause && own === 'fetch failed' ? cause : own;
}
