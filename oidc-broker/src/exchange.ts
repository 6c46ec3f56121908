// exchange: one POST /auth/oidc/<provider>, top to bottom: read the request, verify the CI token against its
// configured issuer, spend its jti, decide by the trust relationships, mint, and record the decision (with the
// SHA-256 of the minted token, never the token).
import type { Logger } from 'pino';
import { EXCHANGE_REQUEST_FIELDS } from '../../shared/contract/exchange';
import type { ExchangeRequest, ExchangeSuccess } from '../../shared/contract/exchange';
import { PROJECT_ID, PROJECT_ID_HINT } from '../../shared/contract/project';
import type { SourceIdentity } from '../../shared/contract/project-token';
import type { BrokerConfig } from './config';
import { BrokerError } from './errors';
import type { ForkDeps } from './fork-claim';
import type { KeyStore } from './keys';
import type { Metrics } from './metrics';
import { mintProjectToken } from './mint';
import type { Minted } from './mint';
import { decide } from './policy';
import type { Decision } from './policy';
import type { AuditRecord, Store } from './state';
import { StoreUnavailableError } from './state';
import { boundAudit } from './store/audit-bounds';
import type { UnverifiedAudit } from './store/audit-bounds';
import type { IssuerKeys } from './verify';
import { CLOCK_SKEW, MAX_TOKEN_BYTES, verifyCiToken } from './verify';

export interface BrokerDeps {
  /** The config in force; read once per request, so a reload never splits one. */
  config(): BrokerConfig;
  /** SHA-256 (hex) of the config file's text in force (/readyz). */
  configDigest(): string;
  keys: KeyStore;
  issuerKeys: IssuerKeys;
  state: Store;
  metrics: Metrics;
  log: Logger;
  /** The fork-PR claim flow's clock, GitHub client and pacing. */
  fork: ForkDeps;
  /** Which refusals of unverified tokens get an audit row of their own (store/audit-bounds.ts). */
  unverifiedAudit: UnverifiedAudit;
}

export type { ExchangeRequest } from '../../shared/contract/exchange';

export function parseExchangeRequest(body: string): ExchangeRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new BrokerError(
      'malformed_request',
      'the body must be JSON: {"token": "<CI OIDC token>", "project": "<id>"}',
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BrokerError('malformed_request', 'the body must be a JSON object {"token", "project"?}');
  }
  const obj = parsed as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    if (!(EXCHANGE_REQUEST_FIELDS as readonly string[]).includes(k)) {
      throw new BrokerError(
        'malformed_request',
        `unknown field ${JSON.stringify(k.slice(0, 40))}: the request has only "token" and "project" (scope, isolation and lifetime come from the broker's config)`,
        { field: k.slice(0, 40) },
      );
    }
  }
  if (typeof obj.token !== 'string' || obj.token === '') {
    throw new BrokerError('malformed_request', '"token" must be the CI OIDC token, a non-empty string', {
      field: 'token',
    });
  }
  if (obj.token.length > MAX_TOKEN_BYTES) {
    throw new BrokerError('token_too_large', `the token is over ${MAX_TOKEN_BYTES} bytes`, {
      field: 'token',
    });
  }
  const project = projectField(obj.project);
  return project === undefined ? { token: obj.token } : { token: obj.token, project };
}

/**
 * A request's optional `project`: undefined, or a project id as the config spells them (PROJECT_ID, what
 * config-schema.ts requires of every project's id); anything else is refused before the token is looked at, so it
 * never reaches an audit row whole.
 */
export function projectField(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new BrokerError('malformed_request', '"project" must be a project id string when present', {
      field: 'project',
    });
  }
  if (!PROJECT_ID.test(value)) {
    const shown =
      JSON.stringify(value.slice(0, 40)) + (value.length > 40 ? ` (${value.length} characters)` : '');
    throw new BrokerError(
      'malformed_request',
      `"project" ${shown} is not a project id (${PROJECT_ID_HINT}): use the id the broker config gives the project, or leave "project" out`,
      { field: 'project' },
    );
  }
  return value;
}

/** Where a request came from, for the audit row and the log. */
export interface RequestContext {
  requestId: string;
  client: string;
}

export async function exchange(
  deps: BrokerDeps,
  provider: string,
  body: string,
  ctx: RequestContext = { requestId: '', client: '' },
): Promise<ExchangeSuccess> {
  const config = deps.config();
  const record: AuditRecord = {
    at: Math.floor(Date.now() / 1000),
    kind: 'exchange',
    provider,
    issuer: '',
    outcome: 'ok',
    requestId: ctx.requestId || undefined,
    client: ctx.client || undefined,
  };
  // Until the token is verified, anyone could have sent it: its refusal's audit row is capped (audit-bounds.ts).
  let verified = false;
  try {
    const request = parseExchangeRequest(body);
    const { entry, claims } = await verifyCiToken(request.token, provider, config, deps.issuerKeys);
    verified = true;
    const identity: SourceIdentity = entry.provider.identity(claims);
    const str = (name: string) => (typeof claims[name] === 'string' ? claims[name] : undefined);
    Object.assign(record, {
      issuer: entry.key,
      sub: str('sub'),
      repository: identity.repository,
      repositoryId: identity.repository_id,
      ref: identity.ref,
      sha: identity.sha,
      event: identity.event_name,
      runId: identity.run_id,
      workflowRef: identity.workflow_ref,
      jobWorkflowRef: str('job_workflow_ref'),
      environment: identity.environment,
      actor: str('actor'),
      jti: str('jti'),
      project: request.project,
    });
    // A token leaves the broker only after its jti is committed, so a replay is refused even after a crash. The
    // signature is made while the commit is in flight (the event loop would otherwise wait for it, then sign the whole
    // batch's tokens before the first answer goes out); a replay, or a commit that fails, discards it unsent. A policy
    // refusal still spends the jti, and a replay is reported as one before any policy refusal, as when the two ran in
    // turn.
    const spent = entry.singleUse ? spendJti(deps.state, entry.issuer, claims.jti, claims.exp) : undefined;
    spent?.catch(() => undefined); // awaited below; handled now, so a refusal that comes first is never "unhandled"
    let decision: Decision;
    let minted: Minted;
    try {
      decision = decide(config, entry, claims, request.project);
      minted = await mintProjectToken(config, deps.keys, decision, identity);
    } catch (err: unknown) {
      await spent;
      throw err;
    }
    await spent;
    Object.assign(record, {
      project: decision.project.id,
      rule: decision.rule.id,
      tokenJti: minted.jti,
      tokenSha256: minted.sha256,
    });
    auditLater(deps, record);
    const line = logFields(record, 'exchange');
    line.scope = minted.scope;
    line.isolated = decision.isolated;
    deps.log.info(line, 'project token minted');
    return {
      ok: true,
      token: minted.token,
      project: decision.project.id,
      isolated: decision.isolated,
      expiresAt: minted.expiresAt.toISOString(),
    };
  } catch (err: unknown) {
    const e =
      err instanceof BrokerError
        ? err
        : err instanceof StoreUnavailableError
          ? stateUnavailable(err)
          : new BrokerError('internal', 'the exchange failed inside the broker');
    Object.assign(record, { outcome: e.code, field: e.field, message: e.detail ?? e.message });
    auditRefusal(deps, record, verified, ctx.client, e.code);
    const level = e.code === 'internal' ? 'error' : e.code === 'state_unavailable' ? 'warn' : 'info';
    const line = logFields(record, 'exchange');
    if (e.code === 'internal') line.err = err;
    deps.log[level](line, record.message ?? e.message);
    throw e;
  }
}

/** The log line of an audited request: `event`, the outcome, and the audit record's fields that are set but its time
 * and message (the line has its own: log `r.message`, which this bounds too), the event name as `event_name`. Cuts the
 * record's text to its bounds first (boundAudit(), in place), as auditLater() does, so the line and the row agree.
 * Built in one pass: every exchange logs one. */
export function logFields(r: AuditRecord, event: string): Record<string, unknown> {
  boundAudit(r);
  const line: Record<string, unknown> = { event, outcome: r.outcome };
  for (const key of Object.keys(r) as (keyof AuditRecord)[]) {
    const value = r[key];
    if (value === undefined || key === 'at' || key === 'outcome' || key === 'message') continue;
    line[key === 'event' ? 'event_name' : key] = value;
  }
  return line;
}

/**
 * Audits a refusal: always once the caller proved something (a verified token, a known claim id); otherwise, since
 * anyone can send it from any address, under the cap on unverified refusals (store/audit-bounds.ts), by the minute
 * of the refusal (the row's `at` too, so rows and the cap's windows agree).
 */
export function auditRefusal(
  deps: Pick<BrokerDeps, 'state' | 'log' | 'unverifiedAudit'>,
  record: AuditRecord,
  verified: boolean,
  client: string,
  code: string,
  now: number = Date.now(),
): void {
  if (verified) return auditLater(deps, record);
  record.at = Math.floor(now / 1000);
  deps.unverifiedAudit.offer(client, code, now, () => auditLater(deps, record));
}

/** Writes an audit row with the next group commit; the answer does not wait for it, a failure is logged. Every
 * request's row comes this way, its text cut to the bounds (boundAudit(), in place) whatever the store. */
export function auditLater(deps: Pick<BrokerDeps, 'state' | 'log'>, record: AuditRecord): void {
  deps.state.audit(boundAudit(record)).catch((err: unknown) => {
    deps.log.error({ err, requestId: record.requestId }, 'audit record not written');
  });
}

/** The store did not commit in time: 503 with Retry-After, nothing minted. */
export function stateUnavailable(err: StoreUnavailableError): BrokerError {
  return new BrokerError('state_unavailable', 'the broker could not record this request: retry shortly', {
    retryAfter: err.retryAfter,
    detail: err.message,
  });
}

/** Spends the token's jti: resolves once its use is committed. A token without one, or without a numeric exp (which
 * every issuer requires, so verification has refused it already), is refused at once (a throw, before anything is
 * signed for it): the used jti is recorded under the token's own expiry, so a replay of the same token meets it. */
function spendJti(state: Store, issuer: string, jti: unknown, exp: unknown): Promise<void> {
  if (typeof jti !== 'string' || jti === '') {
    throw new BrokerError('missing_claim', 'the token has no jti claim, which this issuer requires', {
      field: 'jti',
    });
  }
  if (typeof exp !== 'number') {
    throw new BrokerError('missing_claim', 'the token has no exp claim, which this issuer requires', {
      field: 'exp',
    });
  }
  return useJti(state, issuer, jti, exp);
}

async function useJti(state: Store, issuer: string, jti: string, exp: number): Promise<void> {
  const expiresAt = exp + CLOCK_SKEW;
  let first: boolean;
  try {
    first = await state.useJti(issuer, jti, expiresAt);
  } catch (err: unknown) {
    if (err instanceof StoreUnavailableError) throw stateUnavailable(err);
    throw err;
  }
  if (!first) {
    throw new BrokerError(
      'replayed',
      'this token was already exchanged: request a fresh token for each exchange',
      {
        field: 'jti',
      },
    );
  }
}
