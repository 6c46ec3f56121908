// Token resolution and failure semantics, the same in every action (DESIGN.md):
// `token` input > DEPOT_TOKEN > OIDC exchange at the broker > fork-PR claim flow > none.
import * as core from '@actions/core';
import { BrokerRefusal, clean, postJson, readJson, requestIdOf, retryAfterMs } from './broker-http';
import { exchangePath, parseExchangeResponse } from './contract/exchange';
import { errorMessage, UserError } from './errors';
import { forkClaim, forkIsolation, uploadClaimArtifact } from './fork-claim';
import { withoutCredentials } from './inputs';
import type { GithubContext } from './types/github';
import type { TokenRequest, TokenResolution } from './types/token';

export type { TokenRequest, TokenResolution, TokenSource } from './types/token';
export { BrokerRefusal, retryAfterMs } from './broker-http';

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
  /** The clock the fork claim's wait is measured by, in ms (default Date.now). */
  now?: () => number;
  /** Uploads the fork claim's artifact by name (default: @actions/artifact, imported on that path only). */
  uploadArtifact?: (name: string) => Promise<void>;
}

export function defaultTokenDeps(github: GithubContext): TokenDeps {
  return {
    env: process.env,
    github,
    getIDToken: (audience) => core.getIDToken(audience),
    fetch: globalThis.fetch,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    log: { info: core.info, warning: core.warning, debug: core.debug },
    now: Date.now,
    uploadArtifact: uploadClaimArtifact,
  };
}

const MAX_BACKOFF_MS = 10_000;
const MAX_RETRY_AFTER_MS = 60_000;

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
  if (github.untrustedForkPullRequest) return forkPath(req, brokerUrl, project, deps);
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
 * Fork pull requests get no OIDC token from GitHub and are never sent to the exchange. With a broker URL they claim
 * an isolated project token by proving the run itself (shared/fork-claim.ts); without one they build with no
 * project cache, which is what isolation allows them anyway.
 */
async function forkPath(
  req: TokenRequest,
  brokerUrl: string,
  project: string,
  deps: TokenDeps,
): Promise<TokenResolution> {
  const { github, log } = deps;
  const isolation = forkIsolation(github);
  if (!brokerUrl) {
    return {
      kind: 'no-project',
      reason:
        `${isolation} gets no OIDC token and no broker URL is set, so no isolated project token: fork runs get no ` +
        '`vars`, so write the broker URL literally in the workflow (`env: DEPOT_BROKER_URL: https://...`)',
    };
  }
  const outcome = await forkClaim(
    { brokerUrl, github, project, forkWait: req.forkWait },
    {
      fetch: deps.fetch,
      sleep: deps.sleep,
      now: deps.now ?? Date.now,
      upload: deps.uploadArtifact ?? uploadClaimArtifact,
      log,
      ...(deps.attempts !== undefined ? { attempts: deps.attempts } : {}),
      ...(deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {}),
    },
  );
  if (outcome.kind === 'token') {
    log.info(`Isolated: ${isolation}; the project cache is neither read nor written.`);
    return {
      kind: 'token',
      token: outcome.token,
      source: 'fork-claim',
      project: outcome.project,
      isolated: true,
      expiresAt: outcome.expiresAt,
      isolation,
    };
  }
  if (req.buildxFallback) return { kind: 'fallback', reason: outcome.reason };
  throw new UserError(
    `Fork claim failed: ${outcome.reason}. Check \`broker-url\` and \`fork-wait\`, or set \`buildx-fallback: true\` to build without it.`,
  );
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
      res = await postJson(
        url,
        JSON.stringify(project ? { token: idToken, project } : { token: idToken }),
        deps,
        'the token exchange',
        'the OIDC token',
      );
    } catch (err) {
      if (err instanceof UserError) throw err;
      lastProblem = `cannot reach the broker at ${brokerUrl} (${errorMessage(err)})`;
      log.debug(`token.exchange: attempt ${attempt}: ${lastProblem}`);
      if (attempt < attempts) await deps.sleep(waitMs);
      continue;
    }
    const body = parseExchangeResponse(await readJson(res));
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
    const { requestId, ref } = requestIdOf(res, error?.requestId, idToken);
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
      requestId || undefined,
    );
  }
  const reason = `${lastProblem} after ${attempts} tries`;
  if (buildxFallback) return { kind: 'fallback', reason };
  throw new UserError(
    `Token exchange failed: ${reason}. Check \`broker-url\`, or set \`buildx-fallback: true\` to build without it.`,
  );
}
