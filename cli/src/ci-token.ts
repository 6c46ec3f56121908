// A project token for a CI job that was handed none: the one cached for this job, else the CI's OIDC token
// exchanged at the broker (DEPOT_BROKER_URL) through the shared exchange client. Untrusted builds (a pull or merge
// request from another repository) never exchange. The outcomes, as DESIGN.md's failure semantics say: the broker
// unreachable, or 5xx/429 after bounded retries: exit 69; a refusal (4xx): exit 1 with the broker's code and
// request id; a broker URL but no CI token: one line naming the fix.
import { checkBrokerUrl, exchangeToken } from '../../shared/contract/exchange-client';
import { ciToken, detectCi } from './ci';
import type { Exec } from './ci';
import { UnavailableError, UserError } from './errors';
import { addSecret, log } from './log';
import type { ProjectToken } from './token';
import { readProjectToken } from './token';
import { TokenCache } from './token-cache';

/** The env variables of this module, for each command's --help; `width` is the column the text starts at. */
export function ciTokenEnvHelp(width: number): string {
  const rows: [string, string[]][] = [
    [
      'DEPOT_BROKER_URL',
      [
        'the broker (https; http only on loopback): with no token, a CircleCI, GitLab CI or',
        'Buildkite job exchanges its OIDC token there for a project token (never for a pull',
        'or merge request from a fork)',
      ],
    ],
    ['DEPOT_OIDC_AUDIENCE', ["the audience of the job's OIDC token (default: DEPOT_BROKER_URL)"]],
    [
      'DEPOT_OIDC_TOKEN',
      ["GitLab CI: the job's OIDC token (id_tokens: DEPOT_OIDC_TOKEN: aud: <broker url>)"],
    ],
    [
      'DEPOT_BUILDKITE_CLAIMS',
      ['Buildkite: claims added to the OIDC token (--claim), e.g. organization_id,pipeline_id'],
    ],
    [
      'DEPOT_CACHE_DIR',
      [
        "where a job's project token is kept until a minute before it expires",
        '(default: $XDG_CACHE_HOME/depot, else $HOME/.cache/depot)',
      ],
    ],
  ];
  const pad = ' '.repeat(width);
  return rows
    .map(([name, lines]) => {
      const head = `  ${name}`;
      // A name too long for the column gets a line of its own.
      const first = head.length < width ? head.padEnd(width) : `${head}\n${pad}`;
      return lines.map((l, i) => `${i === 0 ? first : pad}${l}\n`).join('');
    })
    .join('');
}

export interface CiTokenDeps {
  /** Runs `circleci` / `buildkite-agent` (shared/exec's exec). */
  exec: Exec;
  /** The broker is POSTed through it, with the proxy dispatcher when one applies. */
  fetch: typeof fetch;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  /** Exchange tries before giving up on network errors, 5xx and 429 (default 4). */
  attempts?: number;
}

export type CiTokenResult =
  | { kind: 'token'; token: ProjectToken; source: 'cache' | 'exchange' }
  /** No project token; `note` is the one line that says why, when it is not simply "none was given". */
  | { kind: 'none'; note?: string };

/** Who would tell the job its token: the fix when there is no CI OIDC token to exchange. */
function noCiHint(env: NodeJS.ProcessEnv): string {
  const ci =
    env.GITHUB_ACTIONS === 'true'
      ? "in GitHub Actions the setup action exchanges the job's OIDC token and exports DEPOT_TOKEN"
      : 'depot exchanges the OIDC token of CircleCI, GitLab CI and Buildkite jobs';
  return `DEPOT_BROKER_URL is set but this job has no CI OIDC token to exchange (${ci}): set DEPOT_TOKEN (or --token), or unset DEPOT_BROKER_URL to build with no project cache.`;
}

export async function tokenFromCi(
  opts: { env: NodeJS.ProcessEnv; project?: string },
  deps: CiTokenDeps,
): Promise<CiTokenResult> {
  const { env } = opts;
  const raw = (env.DEPOT_BROKER_URL ?? '').trim();
  if (raw === '') return { kind: 'none' };
  const brokerUrl = checkBrokerUrl(raw, 'DEPOT_BROKER_URL');
  const job = detectCi(env);
  if (job?.untrusted) {
    return {
      kind: 'none',
      note: `${job.untrusted}: untrusted builds never exchange a CI token, so this build runs with no project cache.`,
    };
  }
  if (!job) throw new UserError(noCiHint(env));
  const audience = (env.DEPOT_OIDC_AUDIENCE || brokerUrl).replace(/\/+$/, '');
  const project = opts.project ?? '';
  const cache = job.jobId ? TokenCache.of(env, deps.now) : undefined;
  const key = { provider: job.provider, jobId: job.jobId, brokerUrl, project };
  const cached = cache?.read(key);
  if (cached) {
    addSecret(cached.raw);
    log.info(
      `using the project token this ${job.name} job got from ${brokerUrl} (project ${cached.project}, valid until ${cached.expiresAt.toISOString()}).`,
    );
    return { kind: 'token', token: cached, source: 'cache' };
  }
  const outcome = await exchangeToken(
    {
      brokerUrl,
      provider: job.provider,
      project,
      ciToken: () => ciToken(job, audience, env, deps.exec),
      setting: 'DEPOT_BROKER_URL',
    },
    {
      fetch: deps.fetch,
      sleep: deps.sleep,
      secret: addSecret,
      debug: (m) => log.debug(m),
      now: deps.now,
      ...(deps.attempts !== undefined ? { attempts: deps.attempts } : {}),
    },
  );
  switch (outcome.kind) {
    case 'granted': {
      const token = readProjectToken(
        outcome.grant.token,
        new Date(deps.now()),
        `The token the broker at ${brokerUrl} minted`,
      );
      cache?.write(key, token.raw);
      log.info(
        `exchanged this ${job.name} job's OIDC token at ${brokerUrl} for a project token (project ${token.project}${token.isolated ? ', isolated' : ''}).`,
      );
      return { kind: 'token', token, source: 'exchange' };
    }
    case 'refused': {
      const { status, code, message, requestId } = outcome;
      const ref = requestId ? `, request id ${requestId}` : '';
      throw new UserError(
        `The broker at ${brokerUrl} refused the token exchange (${status} ${code}${ref}): ${message || 'no message'}`,
      );
    }
    case 'unavailable':
      throw new UnavailableError(
        `Token exchange failed: ${outcome.reason}; no build was started (set DEPOT_TOKEN, or unset DEPOT_BROKER_URL to build with no project cache).`,
      );
  }
}
