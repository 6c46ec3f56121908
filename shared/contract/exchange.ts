// The token exchange on the wire: `POST /auth/oidc/<provider>` with `{token, project?}`, answered by
// `{ok:true, token, project, isolated, expiresAt}` or `{ok:false, error:{code, message, requestId?}}`. The broker
// builds these shapes; the actions and the CLI read them with parseExchangeResponse.

export const CI_PROVIDERS = ['github-actions', 'circleci', 'gitlab', 'buildkite'] as const;
export type CiProvider = (typeof CI_PROVIDERS)[number];

export function exchangePath(provider: CiProvider): string {
  return `/auth/oidc/${provider}`;
}

export interface ExchangeRequest {
  /** The CI job's OIDC token. */
  token: string;
  /** The project to mint for; required only when several projects trust the token. */
  project?: string;
}

/** The request's fields: anything else is refused (scope, isolation and lifetime come from the broker's config). */
export const EXCHANGE_REQUEST_FIELDS: readonly (keyof ExchangeRequest)[] = ['token', 'project'];

export interface ExchangeSuccess {
  ok: true;
  /** The project token (a secret). */
  token: string;
  project: string;
  isolated: boolean;
  /** ISO 8601. */
  expiresAt: string;
}

export interface ErrorResponse {
  ok: false;
  error: { code: string; message: string; requestId?: string };
}

export type ExchangeResponse = ExchangeSuccess | ErrorResponse;

/**
 * Reads a broker answer. Undefined when the body is not the contract's shape at all (an HTML error page from a
 * proxy, a truncated body): callers then speak of the HTTP status alone.
 */
export function parseExchangeResponse(body: unknown): ExchangeResponse | undefined {
  if (!isObject(body)) return undefined;
  if (body.ok === true) {
    const { token, project, isolated, expiresAt } = body;
    if (typeof token !== 'string' || token === '') return undefined;
    if (typeof project !== 'string' || project === '') return undefined;
    if (typeof isolated !== 'boolean') return undefined;
    if (typeof expiresAt !== 'string' || Number.isNaN(Date.parse(expiresAt))) return undefined;
    return { ok: true, token, project, isolated, expiresAt };
  }
  if (body.ok === false && isObject(body.error)) {
    const { code, message, requestId } = body.error;
    if (typeof code !== 'string' || code === '') return undefined;
    const error: ErrorResponse['error'] = { code, message: typeof message === 'string' ? message : '' };
    if (typeof requestId === 'string') error.requestId = requestId;
    return { ok: false, error };
  }
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
