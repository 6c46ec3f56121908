// One closed set of refusal codes, each with its HTTP status. Handlers throw a BrokerError; the app's single onError
// renders `{ok:false, error:{code, message}}`. Callers branch on `code`, never on message text. A message never
// carries a token.

export const ERROR_STATUS = {
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
  no_trust_relationship: 403,
  event_not_allowed: 403,
  not_found: 404,
  ambiguous_project: 409,
  rate_limited: 429,
  internal: 500,
  jwks_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class BrokerError extends Error {
  readonly code: ErrorCode;
  readonly status: (typeof ERROR_STATUS)[ErrorCode];
  /** Seconds, for 429 and 503. */
  readonly retryAfter: number | undefined;
  /** The claim or config field that decided the refusal, for the audit record. */
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, opts: { retryAfter?: number; field?: string } = {}) {
    super(message);
    this.name = 'BrokerError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.retryAfter = opts.retryAfter;
    this.field = opts.field;
  }
}

/** A bad config file, env variable or flag: one line naming the field, printed by main before it exits. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
