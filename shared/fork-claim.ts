// The fork-PR claim flow, the actions' side (DESIGN.md "Broker endpoints"). A `pull_request` run from a fork gets no
// OIDC token, so it proves who it is by the run itself: claim at the broker, upload an artifact named after the
// claim's challenge (only code inside the run can), then poll the claim exchange until the broker has seen the
// artifact listed in this run and answers with an isolated project token.
// The claimId redeems the claim: it is masked the moment it exists and never printed. The challenge is public.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as core from '@actions/core';
import { BrokerRefusal, clean, postJson, readJson, requestIdOf, retryAfterMs } from './broker-http';
import type { BrokerHttpDeps } from './broker-http';
import {
  CLAIM_EXCHANGE_PATH,
  CLAIM_PATH,
  CLAIM_TTL_SECONDS,
  claimArtifactName,
  parseClaimCreated,
  parseClaimExchangeResponse,
} from './contract/fork-claim';
import type { ClaimCreated, ClaimRequest } from './contract/fork-claim';
import { errorMessage, UserError } from './errors';
import type { GithubContext } from './types/github';

/** `fork-wait` when the input is empty, in seconds. */
export const DEFAULT_FORK_WAIT_SECONDS = 60;

const MAX_BACKOFF_MS = 10_000;
const MAX_RETRY_AFTER_MS = 60_000;
/** The shortest pause between two polls, whatever the broker says. */
const MIN_POLL_MS = 1_000;

export interface ForkClaimRequest {
  /** The broker URL, already checked by brokerUrlOf. */
  brokerUrl: string;
  github: GithubContext;
  /** The project to claim for ('' lets the broker pick the one covering the repository). */
  project: string;
  /** Seconds to wait for the token after the claim (capped at the claim's lifetime). */
  forkWait: number;
}

export interface ForkClaimDeps extends BrokerHttpDeps {
  sleep: (ms: number) => Promise<void>;
  /** The clock, in ms. */
  now: () => number;
  /** Uploads the (tiny) artifact named `name` to this run. */
  upload: (name: string) => Promise<void>;
  log: { info(message: string): void; warning(message: string): void; debug(message: string): void };
  /** Tries of the claim, and consecutive failed polls (network errors, 5xx, 429), before giving up. */
  attempts?: number;
}

export type ForkClaimOutcome =
  | { kind: 'token'; token: string; project: string; expiresAt: string }
  /** The broker could not be used (unreachable, 5xx/429 after retries, fork-wait spent, upload failed). */
  | { kind: 'unavailable'; reason: string };

/** Why a fork build is isolated, for logs and summaries: `pull request #12 from fork mallory/web`. */
export function forkIsolation(github: GithubContext): string {
  const pr =
    github.pullRequestNumber !== undefined ? `pull request #${github.pullRequestNumber}` : 'a pull request';
  return `${pr} from ${github.headRepository ? `fork ${github.headRepository}` : 'a fork'}`;
}

/** `fork-wait` capped at the claim's lifetime, with a warning when capped. */
export function capForkWait(seconds: number, log: Pick<ForkClaimDeps['log'], 'warning'>): number {
  if (seconds <= CLAIM_TTL_SECONDS) return seconds;
  log.warning(
    `\`fork-wait\` is ${seconds} s, longer than a fork claim lives (${CLAIM_TTL_SECONDS} s): waiting ${CLAIM_TTL_SECONDS} s at most.`,
  );
  return CLAIM_TTL_SECONDS;
}

export async function forkClaim(req: ForkClaimRequest, deps: ForkClaimDeps): Promise<ForkClaimOutcome> {
  const { log } = deps;
  const waitSeconds = capForkWait(req.forkWait, log);
  const body = claimRequestOf(req);
  if (typeof body === 'string') return { kind: 'unavailable', reason: body };
  log.info(
    `This is ${forkIsolation(req.github)}: claiming an isolated project token at ${req.brokerUrl} (fork-wait ${waitSeconds} s).`,
  );
  const claimed = await claim(req.brokerUrl, body, deps, deps.now() + waitSeconds * 1000);
  if (claimed.kind === 'unavailable') return claimed;
  const { claimId, challenge } = claimed.created;
  const startedAt = deps.now();
  let deadline = startedAt + waitSeconds * 1000;
  if (claimed.lifetimeMs !== undefined) deadline = Math.min(deadline, startedAt + claimed.lifetimeMs);

  const artifact = claimArtifactName(challenge);
  try {
    await deps.upload(artifact);
  } catch (err: unknown) {
    return {
      kind: 'unavailable',
      reason: `the claim artifact ${artifact} could not be uploaded (${clean(errorMessage(err), claimId)})`,
    };
  }
  log.info(`Uploaded artifact ${artifact}: the broker checks that this run lists it.`);
  return poll(req.brokerUrl, claimId, artifact, { startedAt, deadline, waitSeconds }, deps);
}

/** The claim's body from the run's context, or why there is none. */
function claimRequestOf(req: ForkClaimRequest): ClaimRequest | string {
  const { github } = req;
  const runId = Number(github.runId);
  const runAttempt = Number(github.runAttempt || '1');
  if (!Number.isSafeInteger(runId) || runId <= 0 || !Number.isSafeInteger(runAttempt) || runAttempt <= 0) {
    return `the run has no usable GITHUB_RUN_ID/GITHUB_RUN_ATTEMPT ("${github.runId}", "${github.runAttempt}") to claim with`;
  }
  if (github.pullRequestNumber === undefined) {
    return 'the event payload names no pull request number to claim with';
  }
  const body: ClaimRequest = {
    repository: github.repository,
    runId,
    runAttempt,
    pullRequest: github.pullRequestNumber,
  };
  if (req.project) body.project = req.project;
  return body;
}

type Claimed =
  { kind: 'claimed'; created: ClaimCreated; lifetimeMs?: number } | { kind: 'unavailable'; reason: string };

/**
 * POST the claim, retrying network errors, 5xx and 429 (honouring Retry-After) a bounded number of times, and never
 * waiting past `giveUpAt` (fork-wait counted from the first try).
 */
async function claim(
  brokerUrl: string,
  body: ClaimRequest,
  deps: ForkClaimDeps,
  giveUpAt: number,
): Promise<Claimed> {
  const { log } = deps;
  const attempts = Math.max(1, deps.attempts ?? 4);
  const url = `${brokerUrl}${CLAIM_PATH}`;
  let lastProblem = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let waitMs = backoffMs(attempt);
    let res: Response;
    try {
      res = await postJson(url, JSON.stringify(body), deps, 'the fork claim', 'a claim');
    } catch (err: unknown) {
      if (err instanceof UserError) throw err;
      lastProblem = `cannot reach the broker at ${brokerUrl} (${errorMessage(err)})`;
      log.debug(`forkClaim.claim: attempt ${attempt}: ${lastProblem}`);
      if (attempt >= attempts) break;
      if (deps.now() + waitMs > giveUpAt) {
        return { kind: 'unavailable', reason: `${lastProblem}; fork-wait is spent after ${tries(attempt)}` };
      }
      await deps.sleep(waitMs);
      continue;
    }
    const parsed = parseClaimCreated(await readJson(res));
    if (res.ok && parsed?.ok === true) {
      // The claimId redeems the claim: masked before anything else can print it.
      core.setSecret(parsed.claimId);
      const lifetimeMs = Date.parse(parsed.expiresAt) - Date.parse(res.headers.get('date') ?? '');
      return {
        kind: 'claimed',
        created: parsed,
        ...(Number.isFinite(lifetimeMs) && lifetimeMs > 0 ? { lifetimeMs } : {}),
      };
    }
    const error = parsed?.ok === false ? parsed.error : undefined;
    const code = error?.code ?? `http_${res.status}`;
    const message = clean(error?.message || res.statusText);
    const { requestId, ref } = requestIdOf(res, error?.requestId);
    if (res.status === 429 || res.status >= 500) {
      lastProblem = `the broker answered ${res.status} ${code}${ref}${message ? `: ${message}` : ''}`;
      const retryAfter = retryAfterMs(res.headers.get('retry-after'), deps.now());
      if (retryAfter !== undefined) waitMs = Math.min(retryAfter, MAX_RETRY_AFTER_MS);
      log.debug(`forkClaim.claim: attempt ${attempt}: ${lastProblem}`);
      if (attempt >= attempts) break;
      if (deps.now() + waitMs > giveUpAt) {
        return { kind: 'unavailable', reason: `${lastProblem}; fork-wait is spent after ${tries(attempt)}` };
      }
      await deps.sleep(waitMs);
      continue;
    }
    if (res.ok) {
      throw new UserError(
        `The broker at ${brokerUrl} answered ${res.status} to the fork claim without a claim.`,
      );
    }
    throw new BrokerRefusal(
      res.status,
      code,
      `The broker refused the fork claim (${res.status} ${code}${ref}): ${message || 'no message'}`,
      requestId || undefined,
    );
  }
  return { kind: 'unavailable', reason: `${lastProblem} after ${attempts} tries` };
}

interface Clock {
  startedAt: number;
  deadline: number;
  waitSeconds: number;
}

/** Polls the claim exchange until a token, a refusal, too many failures in a row, or fork-wait is spent. */
async function poll(
  brokerUrl: string,
  claimId: string,
  artifact: string,
  clock: Clock,
  deps: ForkClaimDeps,
): Promise<ForkClaimOutcome> {
  const { log } = deps;
  const attempts = Math.max(1, deps.attempts ?? 4);
  const url = `${brokerUrl}${CLAIM_EXCHANGE_PATH}`;
  let failures = 0;
  for (let n = 1; ; n++) {
    let waitMs = 0;
    let state = '';
    let res: Response | undefined;
    try {
      res = await postJson(url, JSON.stringify({ claimId }), deps, 'the fork claim exchange', 'the claim id');
    } catch (err: unknown) {
      if (err instanceof UserError) throw err;
      res = undefined;
      failures++;
      state = `cannot reach the broker at ${brokerUrl} (${clean(errorMessage(err), claimId)})`;
      waitMs = backoffMs(failures);
    }
    if (res) {
      const body = parseClaimExchangeResponse(await readJson(res));
      if (res.status === 200 && body?.ok === true) {
        core.setSecret(body.token);
        if (!body.isolated) {
          throw new UserError(
            `The broker at ${brokerUrl} answered the fork claim with a token that is not isolated: it is not used for a pull request from a fork.`,
          );
        }
        log.info(
          `Fork claim poll ${n}: the broker saw ${artifact} in this run and minted an isolated project token for project ${body.project} (masked).`,
        );
        return { kind: 'token', token: body.token, project: body.project, expiresAt: body.expiresAt };
      }
      if (res.status === 202 && body?.ok === false && 'status' in body) {
        failures = 0;
        state = `pending, the broker does not see ${artifact} listed yet`;
        waitMs = Math.max(MIN_POLL_MS, Math.min(body.retryAfter * 1000, MAX_RETRY_AFTER_MS));
      } else {
        const error = body?.ok === false && 'error' in body ? body.error : undefined;
        const code = error?.code ?? `http_${res.status}`;
        const message = clean(error?.message || res.statusText, claimId);
        const { requestId, ref } = requestIdOf(res, error?.requestId, claimId);
        if (res.status !== 429 && res.status < 500) {
          if (res.ok) {
            throw new UserError(
              `The broker at ${brokerUrl} answered ${res.status} to the fork claim exchange without a project token.`,
            );
          }
          // 4xx: a refusal. Never hidden by buildx-fallback.
          throw new BrokerRefusal(
            res.status,
            code,
            `The broker refused the fork claim exchange (${res.status} ${code}${ref}): ${message || 'no message'}`,
            requestId || undefined,
          );
        }
        failures++;
        state = `the broker answered ${res.status} ${code}${ref}${message ? `: ${message}` : ''}`;
        const retryAfter = retryAfterMs(res.headers.get('retry-after'), deps.now());
        waitMs =
          retryAfter !== undefined
            ? Math.max(MIN_POLL_MS, Math.min(retryAfter, MAX_RETRY_AFTER_MS))
            : backoffMs(failures);
      }
    }
    const now = deps.now();
    const spent = Math.round((now - clock.startedAt) / 1000);
    if (failures >= attempts) {
      log.info(`Fork claim poll ${n}: ${state}; giving up after ${failures} failed polls in a row.`);
      return { kind: 'unavailable', reason: `${state} after ${failures} tries` };
    }
    if (now + waitMs > clock.deadline) {
      log.info(`Fork claim poll ${n}: ${state}; fork-wait (${clock.waitSeconds} s) is spent.`);
      const polls = `${n} poll${n === 1 ? '' : 's'}`;
      return {
        kind: 'unavailable',
        reason:
          failures > 0
            ? `${state}; fork-wait (${clock.waitSeconds} s) is spent after ${polls}`
            : `the broker did not see the claim artifact ${artifact} within fork-wait (${clock.waitSeconds} s, ${polls})`,
      };
    }
    log.info(
      `Fork claim poll ${n}: ${state}; next poll in ${Math.round(waitMs / 1000)} s (${spent} of ${clock.waitSeconds} s of fork-wait spent).`,
    );
    await deps.sleep(waitMs);
  }
}

function tries(n: number): string {
  return `${n} ${n === 1 ? 'try' : 'tries'}`;
}

function backoffMs(attempt: number): number {
  return Math.min(1000 * 2 ** (attempt - 1), MAX_BACKOFF_MS);
}

/**
 * The default upload: one tiny file as artifact `name`, kept 1 day. @actions/artifact is imported here, on the
 * fork path only, so no other run loads it.
 */
export async function uploadClaimArtifact(name: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const { DefaultArtifactClient } = await import('@actions/artifact');
  const dir = mkdtempSync(join(env.RUNNER_TEMP || tmpdir(), 'depot-claim-'));
  try {
    const file = join(dir, 'claim.txt');
    writeFileSync(file, `${name}: proves to the Depot broker that this run made the claim.\n`);
    await new DefaultArtifactClient().uploadArtifact(name, [file], dir, { retentionDays: 1 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
