// fork-claim: the two requests of a fork pull request, which GitHub gives no OIDC token (DESIGN.md "Broker
// endpoints", shared/contract/fork-claim.ts). Top to bottom, like exchange.ts:
//   claim():         read the request, pick the covering project from the config alone (no GitHub request: anyone
//                    can claim for any repository), store the claim (its id hashed) at once, audit.
//   claimExchange(): read the request, find the claim, pace GitHub, check the run and its pull request once
//                    (checkRun), list the run's artifacts for the challenge, spend the claim at once, mint an isolated
//                    token, audit.
// Callers learn a code and a generic message that names no project; the detail goes to the audit row and the log.
import { randomBytes } from 'node:crypto';
import {
  CLAIM_EXCHANGE_REQUEST_FIELDS,
  CLAIM_REQUEST_FIELDS,
  CLAIM_TTL_SECONDS,
  claimArtifactName,
} from '../../shared/contract/fork-claim';
import type {
  ClaimCreated,
  ClaimExchangeRequest,
  ClaimPending,
  ClaimRequest,
} from '../../shared/contract/fork-claim';
import type { ExchangeSuccess } from '../../shared/contract/exchange';
import type { SourceIdentity } from '../../shared/contract/project-token';
import type { BrokerConfig, ProjectConfig } from './config';
import type { ErrorCode } from './errors';
import { BrokerError } from './errors';
import type { BrokerDeps, RequestContext } from './exchange';
import { auditLater, auditRefusal, logFields, projectField, stateUnavailable } from './exchange';
import type { GitHubApi, GitHubOptions, WorkflowRun } from './github';
import { GitHubClients, GitHubError } from './github';
import { mintProjectToken, sha256 } from './mint';
import type { CompiledRule } from './policy';
import type { AuditRecord, ClaimRow } from './state';
import { StoreUnavailableError } from './state';

/** GitHub is asked at most this often per claim while its artifact is not listed. */
export const ASK_INTERVAL_MS = 5_000;
/** After a failed ask: GitHub's Retry-After when it gives one, else 1 s doubling up to this. */
export const MAX_BACKOFF_SECONDS = 30;
/** Expired claims are kept this long (a poll gets 410, not 404), then purged. */
export const CLAIM_KEEP_MS = 60 * 60 * 1000;

/** What the claim flow needs besides the exchange's dependencies. */
export interface ForkDeps {
  /** Milliseconds since the epoch: claim lifetimes and pacing (tests inject a clock). */
  now(): number;
  /** The GitHub API client for the config in force, or undefined when the token variable is empty. */
  github(config: BrokerConfig): GitHubApi | undefined;
  /** When each claim may next ask GitHub (in memory: a restart only makes the next poll ask at once). */
  pacing: Map<string, Pace>;
}

export interface Pace {
  nextAskAt: number;
  /** Failed asks in a row, for the back-off. */
  failures: number;
  expiresAt: number;
}

export function createForkDeps(
  env: NodeJS.ProcessEnv,
  opts: GitHubOptions,
  log: BrokerDeps['log'],
  now: () => number = Date.now,
): ForkDeps {
  const clients = new GitHubClients(env, opts, log, now);
  return { now, github: (config) => clients.for(config), pacing: new Map() };
}

/** Forgets the pacing of claims that expired (housekeeping). */
export function forgetPacing(fork: ForkDeps, nowMs: number): void {
  for (const [id, pace] of fork.pacing) if (pace.expiresAt <= nowMs) fork.pacing.delete(id);
}

/** What a caller is told for each refusal: the code's meaning, never a project, a rule or a config value. */
const MESSAGES: Partial<Record<ErrorCode, string>> = {
  no_project: 'no project on this broker builds pull requests of this repository',
  fork_denied: 'this broker does not build fork pull requests of this repository',
  ambiguous_project: 'several projects build this repository: name one with "project" in the claim',
  run_not_found: 'no such workflow run attempt in this repository',
  pull_request_mismatch: 'the run is not a run of this pull request',
  event_not_allowed: 'only pull_request runs can claim a token',
  not_a_fork: 'the run is not from a fork: same-repository runs have an OIDC token, use it',
  run_not_in_progress: 'the run is not in progress',
  repository_not_public: 'fork pull requests are built for public repositories only',
  unknown_claim: 'no such claim: make a new one',
  claim_used: 'this claim was already exchanged: make a new one',
  claim_expired: `this claim expired (claims live ${CLAIM_TTL_SECONDS} s): make a new one`,
  github_unavailable: 'GitHub did not answer the broker: retry later (the claim is kept)',
};

function refuse(code: ErrorCode, detail: string, field?: string): BrokerError {
  return new BrokerError(code, MESSAGES[code] ?? 'refused', field ? { detail, field } : { detail });
}

/** Refusals decided at exchange that every later poll of the claim gets again. */
const FINAL = new Set<ErrorCode>([
  'no_project',
  'fork_denied',
  'run_not_found',
  'pull_request_mismatch',
  'event_not_allowed',
  'not_a_fork',
  'run_not_in_progress',
  'repository_not_public',
]);

const REPOSITORY = /^[A-Za-z0-9-]+\/[A-Za-z0-9_.-]+$/;

function readJsonObject(body: string, shape: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new BrokerError('malformed_request', `the body must be JSON: ${shape}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BrokerError('malformed_request', `the body must be a JSON object ${shape}`);
  }
  return parsed as Record<string, unknown>;
}

function onlyFields(obj: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      throw new BrokerError(
        'malformed_request',
        `unknown field ${JSON.stringify(k.slice(0, 40))}: the request has only ${allowed.map((f) => `"${f}"`).join(', ')}`,
        { field: k.slice(0, 40) },
      );
    }
  }
}

function positiveInteger(obj: Record<string, unknown>, name: string): number {
  const v = obj[name];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    throw new BrokerError('malformed_request', `"${name}" must be a positive integer`, { field: name });
  }
  return v;
}

export function parseClaimRequest(body: string): ClaimRequest {
  const obj = readJsonObject(body, '{"repository", "runId", "runAttempt", "pullRequest", "project"?}');
  onlyFields(obj, CLAIM_REQUEST_FIELDS);
  if (typeof obj.repository !== 'string' || !REPOSITORY.test(obj.repository)) {
    throw new BrokerError('malformed_request', '"repository" must be the base repository, owner/name', {
      field: 'repository',
    });
  }
  const request: ClaimRequest = {
    repository: obj.repository,
    runId: positiveInteger(obj, 'runId'),
    runAttempt: positiveInteger(obj, 'runAttempt'),
    pullRequest: positiveInteger(obj, 'pullRequest'),
  };
  const project = projectField(obj.project);
  if (project !== undefined) request.project = project;
  return request;
}

export function parseClaimExchangeRequest(body: string): ClaimExchangeRequest {
  const obj = readJsonObject(body, '{"claimId"}');
  onlyFields(obj, CLAIM_EXCHANGE_REQUEST_FIELDS);
  if (typeof obj.claimId !== 'string') {
    throw new BrokerError('malformed_request', '"claimId" must be the claim id string of the claim answer', {
      field: 'claimId',
    });
  }
  return { claimId: obj.claimId };
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function sameName(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && asciiLower(a) === asciiLower(b);
}

/**
 * Whether a rule covers a repository for fork claims: a github-actions rule of the issuer `github.api_url` belongs
 * to, whose repository and repository_owner (those it names) match. Ref, event, workflow and environment fields
 * and `claims:` pins are ignored; pinned ids are checked against GitHub at exchange (pinsMatch).
 */
export function covers(config: BrokerConfig, rule: CompiledRule, repository: string): boolean {
  const issuer = config.forkIssuer;
  if (!issuer || rule.provider !== 'github-actions') return false;
  if (rule.issuerKey !== undefined && rule.issuerKey !== issuer.key) return false;
  const { repository: repo, repository_owner: owner } = rule.fields;
  if (repo === undefined && owner === undefined) return false;
  if (repo !== undefined && (typeof repo !== 'string' || !sameName(repo, repository))) return false;
  if (owner !== undefined && (typeof owner !== 'string' || !sameName(owner, repository.split('/')[0])))
    return false;
  return true;
}

interface Cover {
  project: ProjectConfig;
  rule: CompiledRule;
}

/** The first covering rule of a project, in file order. */
function coveringRule(
  config: BrokerConfig,
  project: ProjectConfig,
  repository: string,
): CompiledRule | undefined {
  return project.rules.find((r) => covers(config, r, repository));
}

/** The project a claim is for, from the config alone: named and covering, or the only one covering. */
export function coveringProject(config: BrokerConfig, repository: string, named?: string): Cover {
  let cover: Cover | undefined;
  if (named !== undefined) {
    const project = config.projects.find((p) => p.id === named);
    const rule = project && coveringRule(config, project, repository);
    if (!project || !rule) {
      throw refuse(
        'no_project',
        project
          ? `project ${named} has no github-actions rule${config.forkIssuer ? ` of issuer ${config.forkIssuer.key}` : ''} covering ${repository} in ${config.file}`
          : `project ${JSON.stringify(named)} is not configured in ${config.file}`,
        'project',
      );
    }
    cover = { project, rule };
  } else {
    const all: Cover[] = [];
    for (const project of config.projects) {
      const rule = coveringRule(config, project, repository);
      if (rule) all.push({ project, rule });
    }
    if (all.length > 1) {
      throw refuse(
        'ambiguous_project',
        `several projects cover ${repository} (${all.map((c) => c.project.id).join(', ')}): the claim must name one`,
        'project',
      );
    }
    cover = all[0];
    if (!cover) {
      throw refuse(
        'no_project',
        `no project has a github-actions rule${config.forkIssuer ? ` of issuer ${config.forkIssuer.key}` : ' (no github-actions issuer entry)'} covering ${repository} in ${config.file}`,
        'repository',
      );
    }
  }
  if (cover.project.forkPolicy !== 'isolated') {
    throw refuse(
      'fork_denied',
      `project ${cover.project.id} covers ${repository} (rule ${cover.rule.id}) but its fork_policy is ${cover.project.forkPolicy}`,
      'fork_policy',
    );
  }
  return cover;
}

function noGitHub(config: BrokerConfig): BrokerError {
  return new BrokerError(
    'github_unavailable',
    'the broker has no GitHub token, so it cannot check fork pull requests: tell the broker operator',
    {
      retryAfter: MAX_BACKOFF_SECONDS,
      detail: `${config.github.tokenEnv} is empty: the broker cannot ask GitHub about fork pull requests`,
      field: 'github.token_env',
    },
  );
}

function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/** Fills the audit record's fork-PR fields from a claim (or a claim request). */
function claimFields(c: {
  repository: string;
  runId: number;
  runAttempt: number;
  pullRequest: number;
  project?: string | undefined;
}): Partial<AuditRecord> {
  return {
    repository: c.repository,
    runId: String(c.runId),
    runAttempt: String(c.runAttempt),
    pullRequest: String(c.pullRequest),
    project: c.project,
  };
}

export async function claim(
  deps: BrokerDeps,
  body: string,
  ctx: RequestContext,
  admitRun: (key: string) => void = () => undefined,
): Promise<ClaimCreated> {
  const config = deps.config();
  const now = deps.fork.now();
  const record: AuditRecord = {
    at: seconds(now),
    kind: 'claim',
    provider: 'github-actions',
    issuer: config.forkIssuer?.key ?? '',
    outcome: 'ok',
    requestId: ctx.requestId || undefined,
    client: ctx.client || undefined,
  };
  try {
    const request = parseClaimRequest(body);
    Object.assign(record, claimFields(request));
    admitRun(`${asciiLower(request.repository)}#${request.runId}`);
    const cover = coveringProject(config, request.repository, request.project);
    Object.assign(record, { project: cover.project.id, rule: cover.rule.id });
    if (!deps.fork.github(config)) throw noGitHub(config);
    const claimId = randomBytes(16).toString('base64url');
    const challenge = randomBytes(16).toString('base64url');
    const expiresAt = now + CLAIM_TTL_SECONDS * 1000;
    await deps.state.createClaim({
      idSha256: sha256(claimId),
      challenge,
      repository: request.repository,
      runId: request.runId,
      runAttempt: request.runAttempt,
      pullRequest: request.pullRequest,
      project: cover.project.id,
      rule: cover.rule.id,
      client: ctx.client || undefined,
      requestId: ctx.requestId || undefined,
      createdAt: now,
      expiresAt,
    });
    record.claim = challenge;
    auditLater(deps, record);
    deps.metrics.forkClaims.inc({ endpoint: 'claim', outcome: 'ok' });
    deps.log.info(logFields(record, 'claim'), 'fork pull request claim made');
    return { ok: true, claimId, challenge, expiresAt: new Date(expiresAt).toISOString() };
  } catch (err: unknown) {
    throw settle(deps, 'claim', record, err);
  }
}

/** What checkRun learnt from GitHub, kept with the claim so later polls only list artifacts. */
interface Checked {
  repository: string;
  repositoryId: string;
  ownerId: string;
  headRepository: string;
  headSha: string;
  workflowPath?: string | undefined;
}

export async function claimExchange(
  deps: BrokerDeps,
  body: string,
  ctx: RequestContext,
): Promise<ExchangeSuccess | ClaimPending> {
  const config = deps.config();
  const now = deps.fork.now();
  const record: AuditRecord = {
    at: seconds(now),
    kind: 'claim_exchange',
    provider: 'github-actions',
    issuer: config.forkIssuer?.key ?? '',
    outcome: 'ok',
    requestId: ctx.requestId || undefined,
    client: ctx.client || undefined,
  };
  let id: string | undefined;
  let decidedBefore = false;
  try {
    const request = parseClaimExchangeRequest(body);
    id = sha256(request.claimId);
    const row = await deps.state.claim(id);
    if (!row) throw refuse('unknown_claim', 'no claim has this id (or it was purged)', 'claimId');
    Object.assign(record, claimFields(row), { rule: row.rule, claim: row.challenge });
    if (row.refusal !== undefined) {
      decidedBefore = true;
      throw new BrokerError(row.refusal as ErrorCode, MESSAGES[row.refusal as ErrorCode] ?? 'refused', {
        detail: `refused at an earlier poll: ${row.refusalMessage ?? row.refusal}`,
      });
    }
    if (row.usedAt !== undefined)
      throw refuse('claim_used', `the claim was exchanged at ${new Date(row.usedAt).toISOString()}`);
    if (now >= row.expiresAt) {
      deps.fork.pacing.delete(id);
      throw refuse('claim_expired', `the claim expired at ${new Date(row.expiresAt).toISOString()}`);
    }

    const pace = deps.fork.pacing.get(id) ?? { nextAskAt: 0, failures: 0, expiresAt: row.expiresAt };
    if (now < pace.nextAskAt) return pending(deps, pace.nextAskAt - now);

    // The config in force decides, not the one of claim time: the project must still take forks of the repository.
    const cover = coveringProject(config, row.repository, row.project);
    Object.assign(record, { rule: cover.rule.id });
    const github = deps.fork.github(config);
    if (!github) throw failedAsk(deps, id, pace, now, noGitHub(config));

    pace.nextAskAt = now + ASK_INTERVAL_MS; // one ask at a time: concurrent polls get 202 meanwhile
    deps.fork.pacing.set(id, pace);
    let checked: Checked;
    let listed: boolean;
    try {
      checked = row.checked ? (JSON.parse(row.checked) as Checked) : await checkRun(deps, github, row);
      if (!row.checked) await deps.state.claimChecked(id, JSON.stringify(checked));
      Object.assign(record, identityFields(checked));
      pinsMatch(cover, checked);
      listed = await artifactListed(deps, github, row);
    } catch (err: unknown) {
      if (err instanceof GitHubError) throw failedAsk(deps, id, pace, now, unavailable(deps, err));
      throw err;
    }
    pace.failures = 0;
    if (!listed) return pending(deps, ASK_INTERVAL_MS);

    if (!(await deps.state.useClaim(id, now)))
      throw refuse('claim_used', 'another poll exchanged the claim first');
    deps.fork.pacing.delete(id);
    const identity: SourceIdentity = {
      provider: 'github-actions',
      repository: checked.repository,
      repository_id: checked.repositoryId,
      ref: `refs/pull/${row.pullRequest}/merge`,
      run_id: String(row.runId),
      run_attempt: String(row.runAttempt),
      event_name: 'pull_request',
      pull_request: String(row.pullRequest),
      head_repository: checked.headRepository,
      head_sha: checked.headSha,
    };
    if (checked.workflowPath) identity.workflow_path = checked.workflowPath;
    const decision = { project: cover.project, rule: cover.rule, grants: ['build' as const], isolated: true };
    const minted = await mintProjectToken(config, deps.keys, decision, identity);
    Object.assign(record, { project: cover.project.id, tokenJti: minted.jti, tokenSha256: minted.sha256 });
    auditLater(deps, record);
    deps.metrics.forkClaims.inc({ endpoint: 'exchange', outcome: 'ok' });
    const line = logFields(record, 'claim_exchange');
    line.scope = minted.scope;
    line.isolated = true;
    deps.log.info(line, 'fork pull request token minted');
    return {
      ok: true,
      token: minted.token,
      project: cover.project.id,
      isolated: true,
      expiresAt: minted.expiresAt.toISOString(),
    };
  } catch (err: unknown) {
    const e = settle(deps, 'exchange', record, err);
    if (id !== undefined && FINAL.has(e.code) && !decidedBefore) {
      deps.fork.pacing.delete(id);
      await deps.state.refuseClaimWith(id, e.code, e.detail ?? e.message).catch((writeErr: unknown) => {
        deps.log.error({ err: writeErr }, 'claim refusal not written');
      });
    }
    throw e;
  }
}

function pending(deps: BrokerDeps, waitMs: number): ClaimPending {
  deps.metrics.forkClaims.inc({ endpoint: 'exchange', outcome: 'pending' });
  return { ok: false, status: 'pending', retryAfter: Math.max(1, Math.ceil(waitMs / 1000)) };
}

/** A failed ask: the claim is kept and asks again after GitHub's Retry-After, else 1 s doubling up to 30 s. */
function failedAsk(deps: BrokerDeps, id: string, pace: Pace, now: number, e: BrokerError): BrokerError {
  pace.failures += 1;
  const backoff = Math.min(MAX_BACKOFF_SECONDS, 2 ** (pace.failures - 1));
  const wait = Math.min(CLAIM_TTL_SECONDS, Math.max(1, e.retryAfter ?? backoff));
  pace.nextAskAt = now + wait * 1000;
  deps.fork.pacing.set(id, pace);
  return new BrokerError('github_unavailable', e.message, {
    retryAfter: wait,
    ...(e.detail ? { detail: e.detail } : {}),
    ...(e.field ? { field: e.field } : {}),
  });
}

function unavailable(deps: BrokerDeps, err: GitHubError): BrokerError {
  if (err.operatorError) deps.log.error({ event: 'github', status: err.status }, err.message);
  const opts: { detail: string; retryAfter?: number } = { detail: err.message };
  if (err.retryAfter !== undefined) opts.retryAfter = err.retryAfter;
  return new BrokerError('github_unavailable', MESSAGES.github_unavailable ?? '', opts);
}

/** One GitHub request, counted; a 404 becomes `notFound` (a final refusal) when the caller names one. */
async function ask<T>(
  deps: BrokerDeps,
  request: string,
  call: () => Promise<T>,
  notFound?: (e: GitHubError) => BrokerError,
): Promise<T> {
  try {
    const r = await call();
    deps.metrics.githubRequests.inc({ request, outcome: 'ok' });
    return r;
  } catch (err: unknown) {
    const e = err instanceof GitHubError ? err : new GitHubError('unexpected', String(err));
    deps.metrics.githubRequests.inc({ request, outcome: e.kind });
    if (e.kind === 'not_found' && notFound) throw notFound(e);
    if (e.kind === 'not_found')
      throw new GitHubError('unexpected', e.message, e.status === undefined ? {} : { status: e.status });
    throw e;
  }
}

/** The run attempt and its pull request, as GitHub shows them; a refusal names the first check that failed. */
async function checkRun(deps: BrokerDeps, github: GitHubApi, row: ClaimRow): Promise<Checked> {
  const run: WorkflowRun = await ask(
    deps,
    'run_attempt',
    () => github.runAttempt(row.repository, row.runId, row.runAttempt),
    (e) => refuse('run_not_found', e.message, 'runId'),
  );
  const where = `run ${row.runId} attempt ${row.runAttempt}`;
  if (
    !sameName(run.repository.full_name, row.repository) ||
    run.id !== row.runId ||
    run.run_attempt !== row.runAttempt
  ) {
    throw refuse(
      'run_not_found',
      `GitHub answered for ${where} of ${row.repository} with run ${run.id} attempt ${run.run_attempt} of ${run.repository.full_name}`,
      'runId',
    );
  }
  if (run.event !== 'pull_request') {
    throw refuse('event_not_allowed', `${where} is a ${run.event} run, not pull_request`, 'event_name');
  }
  if (run.status === 'completed' || run.status === null) {
    throw refuse('run_not_in_progress', `${where} is ${run.status ?? 'of no status'}`, 'status');
  }
  const head = run.head_repository?.full_name;
  if (head === undefined || sameName(head, run.repository.full_name)) {
    throw refuse(
      'not_a_fork',
      head === undefined
        ? `${where} names no head repository (a deleted fork?)`
        : `${where}'s head repository is ${run.repository.full_name} itself`,
      'head_repository',
    );
  }
  if (
    run.repository.private ||
    (run.repository.visibility !== undefined && run.repository.visibility !== 'public')
  ) {
    throw refuse(
      'repository_not_public',
      `${run.repository.full_name} is ${run.repository.visibility ?? 'private'}`,
      'repository',
    );
  }
  // A fork's run lists no pull requests: the number is believed only when the pull request shows this run's head.
  const pull = await ask(
    deps,
    'pull',
    () => github.pull(row.repository, row.pullRequest),
    (e) => refuse('pull_request_mismatch', e.message, 'pullRequest'),
  );
  if (
    pull.number !== row.pullRequest ||
    pull.head.sha !== run.head_sha ||
    !sameName(pull.head.repo?.full_name, head) ||
    !sameName(pull.base.repo.full_name, run.repository.full_name)
  ) {
    throw refuse(
      'pull_request_mismatch',
      `pull request ${row.pullRequest} has head ${pull.head.repo?.full_name ?? '(deleted)'}@${pull.head.sha} onto ${pull.base.repo.full_name}; ${where} built ${head}@${run.head_sha}`,
      'pullRequest',
    );
  }
  return {
    repository: run.repository.full_name,
    repositoryId: String(run.repository.id),
    ownerId: run.repository.owner ? String(run.repository.owner.id) : '(unknown)',
    headRepository: head,
    headSha: run.head_sha,
    workflowPath: run.path ?? undefined,
  };
}

/** The ids the covering rule pins must be GitHub's (a re-created repository of the same name has another id). */
function pinsMatch(cover: Cover, checked: Checked): void {
  const pins: [string, string][] = [
    ['repository_id', checked.repositoryId],
    ['repository_owner_id', checked.ownerId],
  ];
  for (const [field, actual] of pins) {
    const want = cover.rule.fields[field];
    if (want !== undefined && want !== actual) {
      throw refuse(
        'no_project',
        `rule ${cover.rule.id} (project ${cover.project.id}) pins ${field} "${typeof want === 'string' ? want : want.join(',')}" but GitHub says ${actual}`,
        field,
      );
    }
  }
}

async function artifactListed(deps: BrokerDeps, github: GitHubApi, row: ClaimRow): Promise<boolean> {
  const name = claimArtifactName(row.challenge);
  const artifacts = await ask(deps, 'artifacts', () => github.artifacts(row.repository, row.runId, name));
  return artifacts.some((a) => a.name === name && a.workflow_run?.id === row.runId);
}

function identityFields(c: Checked): Partial<AuditRecord> {
  return {
    repository: c.repository,
    repositoryId: c.repositoryId,
    headRepository: c.headRepository,
    headSha: c.headSha,
    workflowPath: c.workflowPath,
    event: 'pull_request',
  };
}

/** Audits and logs a refusal (a 503 is logged only: nothing was decided), and returns it to throw. */
function settle(
  deps: BrokerDeps,
  endpoint: 'claim' | 'exchange',
  record: AuditRecord,
  err: unknown,
): BrokerError {
  const e =
    err instanceof BrokerError
      ? err
      : err instanceof StoreUnavailableError
        ? stateUnavailable(err)
        : new BrokerError('internal', 'the claim failed inside the broker');
  deps.metrics.forkClaims.inc({ endpoint, outcome: e.code });
  Object.assign(record, { outcome: e.code, field: e.field, message: e.detail ?? e.message });
  if (e.code !== 'github_unavailable' || endpoint === 'claim') {
    // A claim request proves nothing (GitHub has not been asked yet); an exchange does once its claim id is known.
    const verified = endpoint === 'exchange' && record.claim !== undefined;
    auditRefusal(deps, record, verified, record.client ?? '', e.code, deps.fork.now());
  }
  const level =
    e.code === 'internal'
      ? 'error'
      : e.code === 'github_unavailable' || e.code === 'state_unavailable'
        ? 'warn'
        : 'info';
  const line = logFields(record, endpoint === 'claim' ? 'claim' : 'claim_exchange');
  if (e.retryAfter !== undefined) line.retryAfter = e.retryAfter;
  if (e.code === 'internal') line.err = err;
  deps.log[level](line, record.message ?? e.message);
  return e;
}
