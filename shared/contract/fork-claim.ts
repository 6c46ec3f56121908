// The fork-PR claim flow on the wire (DESIGN.md "Broker endpoints"). A `pull_request` run from a fork gets no OIDC
// token, so it proves who it is by the run itself: it claims (`POST /auth/oidc/public/claim`), uploads an artifact
// named after the claim's challenge (only code inside the run can), and polls `POST /auth/oidc/public/exchange`
// until the broker has seen the artifact listed in that run. The answer is an isolated project token (scope build,
// no cache). The broker builds these shapes; the actions read them with the parsers below.
import type { ErrorResponse, ExchangeSuccess } from './exchange';
import { parseExchangeResponse } from './exchange';

export const CLAIM_PATH = '/auth/oidc/public/claim';
export const CLAIM_EXCHANGE_PATH = '/auth/oidc/public/exchange';

/** A claim lives this long; `fork-wait` is capped at it. */
export const CLAIM_TTL_SECONDS = 300;

export interface ClaimRequest {
  /** The base repository, owner/name (the run's own repository: GITHUB_REPOSITORY). */
  repository: string;
  runId: number;
  runAttempt: number;
  /** The pull request number. */
  pullRequest: number;
  project?: string;
}

export const CLAIM_REQUEST_FIELDS: readonly (keyof ClaimRequest)[] = [
  'repository',
  'runId',
  'runAttempt',
  'pullRequest',
  'project',
];

export interface ClaimExchangeRequest {
  claimId: string;
}

export const CLAIM_EXCHANGE_REQUEST_FIELDS: readonly (keyof ClaimExchangeRequest)[] = ['claimId'];

/** 201 to a claim. `claimId` is the secret that redeems it; `challenge` names the artifact. */
export interface ClaimCreated {
  ok: true;
  claimId: string;
  challenge: string;
  /** ISO 8601. */
  expiresAt: string;
}

/** 202 to a poll while the artifact is not listed yet. */
export interface ClaimPending {
  ok: false;
  status: 'pending';
  /** Seconds until the next poll is worth making. */
  retryAfter: number;
}

export type ClaimExchangeResponse = ExchangeSuccess | ClaimPending | ErrorResponse;

/** The artifact the run uploads to prove the claim is its own. */
export function claimArtifactName(challenge: string): string {
  return `depot-claim-${challenge}`;
}

/** 128 random bits, base64url: what claimId and challenge are. */
export const CLAIM_SECRET = /^[A-Za-z0-9_-]{22}$/;

export function parseClaimCreated(body: unknown): ClaimCreated | ErrorResponse | undefined {
  if (isObject(body) && body.ok === true) {
    const { claimId, challenge, expiresAt } = body;
    if (typeof claimId !== 'string' || !CLAIM_SECRET.test(claimId)) return undefined;
    if (typeof challenge !== 'string' || !CLAIM_SECRET.test(challenge)) return undefined;
    if (typeof expiresAt !== 'string' || Number.isNaN(Date.parse(expiresAt))) return undefined;
    return { ok: true, claimId, challenge, expiresAt };
  }
  const refusal = parseExchangeResponse(body);
  return refusal?.ok === false ? refusal : undefined;
}

export function parseClaimExchangeResponse(body: unknown): ClaimExchangeResponse | undefined {
  if (isObject(body) && body.ok === false && body.status === 'pending') {
    const retryAfter = body.retryAfter;
    if (typeof retryAfter !== 'number' || !Number.isFinite(retryAfter) || retryAfter < 0) return undefined;
    return { ok: false, status: 'pending', retryAfter };
  }
  return parseExchangeResponse(body);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
