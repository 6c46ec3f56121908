// Token resolution and failure semantics, the same in every action (DESIGN.md):
// `token` input > DEPOT_TOKEN > OIDC exchange at the broker > fork-PR claim flow > none.
import * as core from '@actions/core';
import { HttpClient } from '@actions/http-client';
import { exchangePath, parseExchangeResponse } from './contract/exchange';
import type { ExchangeResponse } from './contract/exchange';
import { errorMessage, UserError } from './errors';
import { withoutCredentials } from './inputs';
import type { GithubContext } from './types/github';
import type { TokenRequest, TokenResolution } from './types/token';

export type { TokenRequest, TokenResolution, TokenSource } from './types/token';

export interface TokenDeps {
  env: NodeJS.ProcessEnv;
  github: GithubContext;
  /** Asks the runner for a fresh OIDC token (core.getIDToken). */
  getIDToken: (audience: string) => Promise<string>;
  /** Called with a proxy dispatcher (HTTPS_PROXY/NO_PROXY, as @actions/http-client reads them) when one applies. */
  fetch: typeof fetch;
  sleep: (ms: number) => Promise<void>;
  log: { info(message: string): void; warning(message: string): void; debug(message: string): void };
  /** Exchange attempts before giving up (network errors, 5xx, 429). */
  attempts?: number;
  /** Per-request timeout in ms. */
  timeoutMs?: number;
}

export function defaultTokenDeps(github: GithubContext): TokenDeps {
  return {
    env: process.env,
    github,
    getIDToken: (audience) => core.getIDToken(audience),
    fetch: globalThis.fetch,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    log: { info: core.info, warning: core.warning, debug: core.debug },
  };
}

const MAX_BACKOFF_MS = 10_000;
const MAX_RETRY_AFTER_MS = 60_000;

/** A broker answer that must fail the step whatever `buildx-fallback` says (4xx: a refusal, never hidden). */
export class BrokerRefusal extends UserError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The broker URL: input, else DEPOT_BROKER_URL; a trailing slash is stripped. The job's OIDC token travels to it,
 * so it must be https (http only on a loopback host) and carry no credentials (never echoed back).
 */
export function brokerUrlOf(req: TokenRequest, env: NodeJS.ProcessEnv): string {
  const raw = req.brokerUrl || env.DEPOT_BROKER_URL || '';
  if (raw === '') return '';
  const from = req.brokerUrl ? 'Input `broker-url`' : 'DEPOT_BROKER_URL';
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

/** 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

export async function resolveToken(req: TokenRequest, deps: TokenDeps): Promise<TokenResolution> {
  const { env, github, log } = deps;
  if (req.token) {
    core.setSecret(req.token);
    log.info('Using the project token from the `token` input.');
    return { kind: 'token', token: req.token, source: 'input' };
  }
  if (env.DEPOT_TOKEN) {
    core.setSecret(env.DEPOT_TOKEN);
    log.info('Using the project token from DEPOT_TOKEN.');
    return { kind: 'token', token: env.DEPOT_TOKEN, source: 'env' };
  }
  const brokerUrl = brokerUrlOf(req, env);
  const project = req.project || env.DEPOT_PROJECT_ID || '';
  if (github.untrustedForkPullRequest) return forkPath(github);
  if (!brokerUrl && !project) {
    return { kind: 'no-project', reason: 'no token, broker URL or project is set' };
  }
  const fallbackOr = (reason: string, failure: string): TokenResolution => {
    if (!req.buildxFallback) throw new UserError(failure);
    return { kind: 'fallback', reason };
  };
  if (!brokerUrl) {
    return fallbackOr(
      `project "${project}" is set but no broker URL`,
      `Project "${project}" is set but no broker URL: set the \`broker-url\` input or the DEPOT_BROKER_URL env variable (or pass a \`token\`).`,
    );
  }
  if (!env.ACTIONS_ID_TOKEN_REQUEST_URL || !env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
    return fallbackOr(
      'this job cannot request an OIDC token',
      'This job cannot request an OIDC token: add `permissions: id-token: write` to the job (or pass a `token`).',
    );
  }
  const audience = (req.audience || env.DEPOT_OIDC_AUDIENCE || brokerUrl).replace(/\/+$/, '');
  return exchange(brokerUrl, audience, project, req.buildxFallback, deps);
}

/**
 * Fork pull requests get no OIDC token from GitHub and are never sent to the exchange. Their isolated token comes
 * from the broker's fork-PR claim flow (DESIGN.md), which is not built yet: until it is, they build with no
 * project cache, which is what isolation allows them anyway.
 */
function forkPath(github: GithubContext): TokenResolution {
  const from = github.headRepository ? ` from ${github.headRepository}` : '';
  return {
    kind: 'no-project',
    reason: `this is a pull request${from}, a fork: it builds isolated, without the project cache`,
  };
}

async function exchange(
  brokerUrl: string,
  audience: string,
  project: string,
  buildxFallback: boolean,
  deps: TokenDeps,
): Promise<TokenResolution> {
  const { log } = deps;
  const attempts = Math.max(1, deps.attempts ?? 4);
  const url = `${brokerUrl}${exchangePath('github-actions')}`;
  let lastProblem = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let waitMs = Math.min(1000 * 2 ** (attempt - 1), MAX_BACKOFF_MS);
    let idToken: string;
    try {
      // A fresh OIDC token for every try: GitHub's issuer is single-use at the broker.
      idToken = await deps.getIDToken(audience);
    } catch (err) {
      lastProblem = `the runner did not hand out an OIDC token (${errorMessage(err)})`;
      log.debug(`token.exchange: attempt ${attempt}: ${lastProblem}`);
      if (attempt < attempts) await deps.sleep(waitMs);
      continue;
    }
    core.setSecret(idToken);
    let res: Response;
    try {
      res = await post(url, JSON.stringify(project ? { token: idToken, project } : { token: idToken }), deps);
    } catch (err) {
      if (err instanceof UserError) throw err;
      lastProblem = `cannot reach the broker at ${brokerUrl} (${errorMessage(err)})`;
      log.debug(`token.exchange: attempt ${attempt}: ${lastProblem}`);
      if (attempt < attempts) await deps.sleep(waitMs);
      continue;
    }
    const body = await readBody(res);
    if (res.ok && body?.ok === true) {
      core.setSecret(body.token);
      log.info(
        `Exchanged the job's OIDC token at ${brokerUrl} for a project token` +
          ` (project ${body.project}${body.isolated ? ', isolated' : ''}).`,
      );
      return {
        kind: 'token',
        token: body.token,
        source: 'oidc',
        project: body.project,
        isolated: body.isolated,
        expiresAt: body.expiresAt,
      };
    }
    const error = body?.ok === false ? body.error : undefined;
    const code = error?.code ?? `http_${res.status}`;
    const message = clean(error?.message || res.statusText, idToken);
    const requestId = error?.requestId ?? res.headers.get('x-request-id') ?? '';
    const ref = requestId ? `, request id ${clean(requestId, idToken).slice(0, 80)}` : '';
    if (res.status === 429 || res.status >= 500) {
      lastProblem = `the broker answered ${res.status} ${code}${ref}${message ? `: ${message}` : ''}`;
      const retryAfter = retryAfterMs(res.headers.get('retry-after'));
      if (retryAfter !== undefined) waitMs = Math.min(retryAfter, MAX_RETRY_AFTER_MS);
      log.debug(`token.exchange: attempt ${attempt}: ${lastProblem}`);
      if (attempt < attempts) await deps.sleep(waitMs);
      continue;
    }
    if (res.ok) {
      throw new UserError(`The broker at ${brokerUrl} answered ${res.status} without a project token.`);
    }
    // 4xx: a refusal. Never hidden by buildx-fallback.
    throw new BrokerRefusal(
      res.status,
      code,
      `The broker refused the token exchange (${res.status} ${code}${ref}): ${message || 'no message'}`,
    );
  }
  const reason = `${lastProblem} after ${attempts} tries`;
  if (buildxFallback) return { kind: 'fallback', reason };
  throw new UserError(
    `Token exchange failed: ${reason}. Check \`broker-url\`, or set \`buildx-fallback: true\` to build without it.`,
  );
}

/**
 * POSTs to the broker through the proxy the runner is configured with, following a redirect only within the
 * broker's own origin (307/308, at most 3): a redirect elsewhere would hand the OIDC token to another host.
 */
async function post(url: string, body: string, deps: TokenDeps): Promise<Response> {
  let target = url;
  for (let hop = 0; ; hop++) {
    const dispatcher = new HttpClient().getAgentDispatcher(target);
    const init: RequestInit & { dispatcher?: unknown } = {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(deps.timeoutMs ?? 15_000),
    };
    if (dispatcher) init.dispatcher = dispatcher;
    const res = await deps.fetch(target, init);
    if (res.status < 300 || res.status > 399) return res;
    const location = res.headers.get('location');
    const next = location ? new URL(location, target) : undefined;
    if (!next || next.origin !== new URL(target).origin) {
      throw new UserError(
        `The broker at ${new URL(url).origin} redirected the token exchange (${res.status}) to ${next ? next.host : 'nowhere'}: the OIDC token is never sent to another host; set \`broker-url\` to the broker's own URL.`,
      );
    }
    if ((res.status !== 307 && res.status !== 308) || hop >= 2) {
      throw new UserError(
        `The broker at ${new URL(url).origin} answered ${res.status} with a redirect to ${next.pathname}: set \`broker-url\` to the broker's own URL.`,
      );
    }
    target = next.href;
  }
}

async function readBody(res: Response): Promise<ExchangeResponse | undefined> {
  try {
    return parseExchangeResponse(JSON.parse(await res.text()));
  } catch {
    return undefined;
  }
}

function clean(message: string, secret: string): string {
  return message
    .split(secret)
    .join('***')
    .replace(/\s*\n\s*/g, ' ')
    .trim()
    .slice(0, 500);
}

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
