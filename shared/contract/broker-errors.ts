// The broker's refusal codes, a closed set, each with its HTTP status. Callers (the actions, the CLI) branch on the
// code, never on message text.

export const BROKER_ERROR_STATUS = {
  malformed_request: 400,
  token_too_large: 413,
  malformed_token: 401,
  bad_alg: 401,
  bad_signature: 401,
  unknown_key: 401,
  bad_issuer: 401,
  bad_audience: 401,
  expired: 401,
  not_yet_valid: 401,
  missing_claim: 401,
  bad_claim_type: 401,
  token_too_old: 401,
  replayed: 401,
  unauthorized: 401,
  token_revoked: 401,
  no_trust_relationship: 403,
  event_not_allowed: 403,
  // The fork-PR claim flow (fork-claim.ts): refusals at claim or exchange are final.
  fork_denied: 403,
  not_a_fork: 403,
  run_not_in_progress: 403,
  repository_not_public: 403,
  no_project: 403,
  run_not_found: 403,
  pull_request_mismatch: 403,
  not_found: 404,
  unknown_claim: 404,
  ambiguous_project: 409,
  claim_used: 409,
  claim_expired: 410,
  rate_limited: 429,
  internal: 500,
  jwks_unavailable: 503,
  github_unavailable: 503,
  // The broker's state store did not commit in time (nothing was minted, the CI token is still unused): retry.
  state_unavailable: 503,
} as const;

export type BrokerErrorCode = keyof typeof BROKER_ERROR_STATUS;

export function isBrokerErrorCode(code: unknown): code is BrokerErrorCode {
  return typeof code === 'string' && Object.hasOwn(BROKER_ERROR_STATUS, code);
}
