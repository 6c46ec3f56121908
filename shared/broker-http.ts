// Talking to the broker over HTTP from the actions, for the OIDC exchange and the fork-PR claim flow: a thin layer
// over the one exchange client (shared/contract/exchange-client.ts), which POSTs JSON through the runner's proxy,
// follows redirects only within the broker's origin and reads Retry-After. A 4xx becomes a BrokerRefusal, which no
// fallback hides.
import { postJson as post } from './contract/exchange-client';
import { UserError } from './errors';

export { clean, readJson, requestIdOf, retryAfterMs } from './contract/exchange-client';

/** A broker answer that must fail the step whatever `buildx-fallback` says (4xx: a refusal, never hidden). */
export class BrokerRefusal extends UserError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
  ) {
    super(message);
  }
}

export interface BrokerHttpDeps {
  /** Called with a proxy dispatcher (HTTPS_PROXY/NO_PROXY, as @actions/http-client reads them) when one applies. */
  fetch: typeof fetch;
  /** Per-request timeout in ms. */
  timeoutMs?: number;
}

/**
 * POSTs JSON to the broker (see the exchange client's postJson); `what` names the request in errors ("the fork
 * claim"), `credential` what the body carries.
 */
export function postJson(
  url: string,
  body: string,
  deps: BrokerHttpDeps,
  what: string,
  credential: string,
): Promise<Response> {
  return post(url, body, {
    fetch: deps.fetch,
    ...(deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {}),
    what,
    credential,
    setting: '`broker-url`',
  });
}
