// Token resolution and failure semantics, the same in every action (DESIGN.md):
// `token` input > DEPOT_TOKEN > OIDC exchange at the broker > fork-PR claim flow > none.
import * as core from '@actions/core';
import { BrokerRefusal } from './broker-http';
import { checkBrokerUrl, exchangeToken } from './contract/exchange-client';
import { errorMessage, UserError } from './errors';
import { forkClaim, forkIsolation, uploadClaimArtifact } from './fork-claim';
import type { GithubContext } from './types/github';
import type { TokenRequest, TokenResolution } from './types/token';

export type { TokenRequest, TokenResolution, TokenSource } from './types/token';
export { BrokerRefusal, retryAfterMs } from './broker-http';
export { isLoopbackHost } from './contract/exchange-client';

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

/**
 * The broker URL: input, else DEPOT_BROKER_URL; a trailing slash is stripped. The job's OIDC token travels to it,
 * so it must be https (http only on a loopback host) and carry no credentials (never echoed back).
 */
export function brokerUrlOf(req: TokenRequest, env: NodeJS.ProcessEnv): string {
  const raw = req.brokerUrl || env.DEPOT_BROKER_URL || '';
  if (raw === '') return '';
  return checkBrokerUrl(raw, req.brokerUrl ? 'Input `broker-url`' : 'DEPOT_BROKER_URL');
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
  const outcome = await exchangeToken(
    {
      brokerUrl,
      provider: 'github-actions',
      project,
      // A fresh OIDC token for every try: GitHub's issuer is single-use at the broker.
      ciToken: async () => {
        try {
          return await deps.getIDToken(audience);
        } catch (err: unknown) {
          throw new Error(`the runner did not hand out an OIDC token (${errorMessage(err)})`);
        }
      },
      setting: '`broker-url`',
    },
    {
      fetch: deps.fetch,
      sleep: deps.sleep,
      secret: (value) => core.setSecret(value),
      debug: (message) => log.debug(`token.exchange: ${message}`),
      attempts,
      ...(deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {}),
      ...(deps.now ? { now: deps.now } : {}),
    },
  );
  if (outcome.kind === 'granted') {
    const { grant } = outcome;
    log.info(
      `Exchanged the job's OIDC token at ${brokerUrl} for a project token` +
        ` (project ${grant.project}${grant.isolated ? ', isolated' : ''}).`,
    );
    return {
      kind: 'token',
      token: grant.token,
      source: 'oidc',
      project: grant.project,
      isolated: grant.isolated,
      expiresAt: grant.expiresAt,
    };
  }
  if (outcome.kind === 'refused') {
    // 4xx: a refusal. Never hidden by buildx-fallback.
    const { status, code, message, requestId } = outcome;
    const ref = requestId ? `, request id ${requestId}` : '';
    throw new BrokerRefusal(
      status,
      code,
      `The broker refused the token exchange (${status} ${code}${ref}): ${message || 'no message'}`,
      requestId || undefined,
    );
  }
  if (buildxFallback) return { kind: 'fallback', reason: outcome.reason };
  throw new UserError(
    `Token exchange failed: ${outcome.reason}. Check \`broker-url\`, or set \`buildx-fallback: true\` to build without it.`,
  );
}
