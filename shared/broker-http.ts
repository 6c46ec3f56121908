// Talking to the broker over HTTP, the same way for the OIDC exchange and the fork-PR claim flow: POST JSON through
// the runner's proxy, follow redirects only within the broker's origin, read Retry-After, and turn a 4xx into a
// refusal that no fallback hides.
import { HttpClient } from '@actions/http-client';
import { UserError } from './errors';

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
 * POSTs JSON to the broker through the proxy the runner is configured with, following a redirect only within the
 * broker's own origin (307/308, at most 3): a redirect elsewhere would hand a credential to another host.
 * `what` names the request in errors ("the token exchange", "the fork claim").
 */
export async function postJson(
  url: string,
  body: string,
  deps: BrokerHttpDeps,
  what: string,
  credential: string,
): Promise<Response> {
  let target = url;
  for (let hop = 0; ; hop++) {
    const dispatcher = new HttpClient().getAgentDispatcher(target);
    const init: RequestInit & { dispatcher?: unknown } = {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(deps.timeoutMs ?? 15_000),
    };
    if (dispatcher) init.dispatcher = dispatcher;
    const res = await deps.fetch(target, init);
    if (res.status < 300 || res.status > 399) return res;
    const location = res.headers.get('location');
    const next = location ? new URL(location, target) : undefined;
    if (!next || next.origin !== new URL(target).origin) {
      throw new UserError(
        `The broker at ${new URL(url).origin} redirected ${what} (${res.status}) to ${next ? next.host : 'nowhere'}: ${credential} is never sent to another host; set \`broker-url\` to the broker's own URL.`,
      );
    }
    if ((res.status !== 307 && res.status !== 308) || hop >= 2) {
      throw new UserError(
        `The broker at ${new URL(url).origin} answered ${res.status} with a redirect to ${next.pathname}: set \`broker-url\` to the broker's own URL.`,
      );
    }
    target = next.href;
  }
}

/** The body as JSON, or undefined when it is not JSON at all (an HTML error page from a proxy). */
export async function readJson(res: Response): Promise<unknown> {
  try {
    return JSON.parse(await res.text()) as unknown;
  } catch {
    return undefined;
  }
}

/** A broker-supplied text as it may be shown: every secret replaced, on one line, at most 500 characters. */
export function clean(message: string, ...secrets: string[]): string {
  let out = message;
  for (const secret of secrets) if (secret) out = out.split(secret).join('***');
  return out
    .replace(/\s*\n\s*/g, ' ')
    .trim()
    .slice(0, 500);
}

/** `, request id X` when the broker gave one (in the body or the X-Request-Id header), else ''. */
export function requestIdOf(
  res: Response,
  bodyRequestId: string | undefined,
  ...secrets: string[]
): { requestId: string; ref: string } {
  const raw = bodyRequestId ?? res.headers.get('x-request-id') ?? '';
  const requestId = raw ? clean(raw, ...secrets).slice(0, 80) : '';
  return { requestId, ref: requestId ? `, request id ${requestId}` : '' };
}

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
