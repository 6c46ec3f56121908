// The HTTP layer: routes, size limits, rate limits and one error renderer. Handlers throw BrokerError; onError
// renders `{ok:false, error:{code, message, requestId}}` (never a token, never a stack). Every response carries
// X-Request-Id, the key of the audit rows and log lines about it (`broker audit --request <id>`).
//
// The exchange (POST /auth/oidc/<provider>), the one hot endpoint, is served straight off node:http by `listener`:
// the same steps as hono's route (request id, client address, body limit, rate limits, metrics, the same error
// renderer), without a web Request and Response per call, which cost about a fifth of an exchange's time on the
// event loop. Every other request, and an exchange URL of any other shape, goes through hono.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono } from 'hono';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { clientAddress, isLoopbackAddress, rateKey } from './address';
import type { BrokerConfig } from './config';
import { BrokerError, errorMessage } from './errors';
import type { ExchangeSuccess } from '../../shared/contract/exchange';
import type { BrokerDeps } from './exchange';
import { exchange } from './exchange';
import { claim, claimExchange } from './fork-claim';
import { CLAIM_EXCHANGE_PATH, CLAIM_PATH } from '../../shared/contract/fork-claim';
import { PROVIDERS } from './providers';
import { RateLimiter } from './ratelimit';
import { StoreUnavailableError } from './state';
import pkg from '../../package.json' with { type: 'json' };
import { basicPassword, registryToken, splitScopes } from './registry-token';

export const MAX_BODY_BYTES = 64 * 1024;
/** The broker's version, package.json's. */
export const BROKER_VERSION: string = pkg.version;

/** What a request is known by: its id (random, never the caller's) and its client address. */
export interface RequestContext {
  requestId: string;
  client: string;
}

type Env = { Variables: RequestContext };

/** Requests made in-process (app.request() in tests, no socket): they never crossed a network. */
export const IN_PROCESS = 'in-process';

/**
 * A request that came over a socket whose peer address is gone (it closed before anything read the address): it is
 * known by this, never as loopback or in-process, so it gets no in-process or loopback allowance (/metrics) and its
 * audit row and log line do not claim it came from inside. runBroker's server reads each connection's address as it
 * is accepted (Node keeps it once read), which leaves this for sockets served some other way.
 */
export const UNKNOWN_PEER = 'unknown';

function socketPeer(c: Context): string {
  // @hono/node-server gives the node:http request in c.env; app.request() in-process has no env and no socket.
  if ((c.env as { incoming?: unknown } | undefined)?.incoming === undefined) return IN_PROCESS;
  return getConnInfo(c).remote.address ?? UNKNOWN_PEER;
}

/** Request bodies over `max` get 413 before anything parses them. With a Content-Length (Node's parser never reads
 * past it) the header decides, without touching `c.req.raw`: materialising the web Request and its stream, as
 * hono's bodyLimit does, halved the exchange rate. Chunked bodies go through hono's bodyLimit. */
function limitBody(max: number): MiddlewareHandler {
  const tooLarge = () => bodyTooLarge(max);
  const streaming = bodyLimit({
    maxSize: max,
    onError: () => {
      throw tooLarge();
    },
  });
  return async (c, next) => {
    const declared = declaredLength(c.req.header('content-length'), c.req.header('transfer-encoding'));
    if (declared === undefined) return streaming(c, next);
    if (declared > max) throw tooLarge();
    return next();
  };
}

/**
 * A request id: 16 hex digits, the time in milliseconds (modulo 2^32, so it wraps every 49.7 days), then a counter
 * that starts at a random value in each process. Ids made later sort after earlier ones, so the audit trail's index
 * on them grows at one end: with random ids each row of a group commit dirtied a page of its own in that index, which
 * cost SQLite about 20 us of CPU per row (WAL writes and checksums). No two ids of one process are the same within
 * 49.7 days (short of 2^32 requests in one millisecond); two instances share one only when their counters meet in the
 * same millisecond.
 */
let idCounter = randomBytes(4).readUInt32BE(0);
export function newRequestId(now: number = Date.now()): string {
  idCounter = (idCounter + 1) >>> 0;
  return (now >>> 0).toString(16).padStart(8, '0') + idCounter.toString(16).padStart(8, '0');
}

/** An error as the broker answers it: status, headers and the JSON body (the one renderer of hono's onError and the
 * node:http exchange path). */
interface ErrorAnswer {
  status: BrokerError['status'];
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

function errorAnswer(deps: BrokerDeps, err: unknown, requestId: string, path: string): ErrorAnswer {
  const e =
    err instanceof BrokerError
      ? err
      : new BrokerError('internal', 'the broker failed to answer this request');
  if (e.code === 'internal') deps.log.error({ err }, 'request failed');
  const headers: Record<string, string> = { 'Cache-Control': 'no-store', 'X-Request-Id': requestId };
  if (e.retryAfter !== undefined) headers['Retry-After'] = String(e.retryAfter);
  // A body over the limit is not read: the connection closes after the answer, rather than node:http reading (and
  // dropping) whatever the client goes on sending, to keep it alive.
  if (e.code === 'token_too_large') headers.Connection = 'close';
  const body: Record<string, unknown> = { ok: false, error: { code: e.code, message: e.message, requestId } };
  // Docker clients print `errors[0].message` from a token service.
  if (path === '/v2/token') body.errors = [{ code: e.code.toUpperCase(), message: e.message }];
  return { status: e.status, headers, body };
}

/** The exchange URLs the node:http path serves: hono's `/auth/oidc/:provider` with a plain provider name and no query. */
const EXCHANGE_URL = /^\/auth\/oidc\/([A-Za-z0-9_.-]{1,64})$/;
const utf8 = new TextDecoder();

export interface BrokerHttp {
  app: Hono<Env>;
  /** node:http's request listener for a server: the exchange served directly, everything else by `app` (through
   * @hono/node-server, which puts its own Request and Response in the globals, as its serve() did: made by the server
   * that runs, never by in-process use). */
  listener(): RequestListener;
}

/** The broker's HTTP app (hono), for in-process requests (tests). */
export function createApp(deps: BrokerDeps): Hono<Env> {
  return createHttp(deps).app;
}

export function createHttp(deps: BrokerDeps): BrokerHttp {
  const app = new Hono<Env>();
  /** The client a request is known by: its socket peer, or behind trusted_proxies the address they forwarded for. */
  const clientOf = (peer: string, forwardedFor: string | undefined): string =>
    peer === IN_PROCESS ? peer : clientAddress(peer, forwardedFor, deps.config().trustedProxies);
  const limiter = new RateLimiter();
  const failures = new RateLimiter();
  const registryFailures = new RateLimiter();
  const registryLogins = new RateLimiter();

  // The per-address limiters count by rateKey(client): an IPv6 client by its /64 (the audit keeps the full address).
  /** 429 with Retry-After when `key` is over any of `limits` (0: off), after `count` records it for /metrics. */
  const refuseOver = (
    key: string,
    limits: Array<[RateLimiter, number]>,
    what: string,
    count: () => void = () => undefined,
  ): void => {
    for (const [limiter, limit] of limits) {
      const wait = limiter.check(key, limit);
      if (wait === undefined) continue;
      count();
      throw new BrokerError('rate_limited', `too many ${what}: retry in ${wait}s`, { retryAfter: wait });
    }
  };
  /** Every request to an exchange counts per address; refusals count again against the failure budget. */
  const exchangeLimits = (config: BrokerConfig): Array<[RateLimiter, number]> => [
    [limiter, config.rateLimit.perAddress],
    [failures, config.rateLimit.failuresPerAddress],
  ];
  const claimsByAddress = new RateLimiter();
  const claimsByRun = new RateLimiter();

  app.use(async (c, next) => {
    // Hex, so an id never starts with '-' (`audit --request ID` would read it as a flag).
    const requestId = newRequestId();
    const client = clientOf(socketPeer(c), c.req.header('x-forwarded-for'));
    c.set('requestId', requestId);
    c.set('client', client);
    c.header('X-Request-Id', requestId);
    await next();
  });

  app.onError((err, c) => {
    const e = errorAnswer(deps, err, c.get('requestId'), c.req.path);
    for (const [name, value] of Object.entries(e.headers)) c.header(name, value);
    return c.json(e.body, e.status);
  });
  app.notFound(() => {
    throw new BrokerError('not_found', 'no such endpoint (see /.well-known/openid-configuration)');
  });

  // Liveness: the process answers; never touches the store.
  app.get('/healthz', (c) => c.json({ ok: true }));

  // Readiness: the store answers (503 state_unavailable otherwise); the version and the digest of the config in force
  // let an operator see that every instance runs the same.
  // One probe of the store at a time, shared by every /readyz request that comes while it runs: anyone may ask, and
  // a flood of probes would contend with the exchanges' commits for the store's write lock.
  let probing: Promise<void> | undefined;
  const probeStore = (): Promise<void> =>
    (probing ??= deps.state.ready().finally(() => {
      probing = undefined;
    }));
  app.get('/readyz', async (c) => {
    try {
      await probeStore();
    } catch (err: unknown) {
      if (!(err instanceof StoreUnavailableError)) deps.log.error({ err }, 'readiness probe failed');
      throw new BrokerError('state_unavailable', 'the broker cannot reach its state store', {
        retryAfter: 1,
        detail: errorMessage(err),
      });
    }
    c.header('Cache-Control', 'no-store');
    return c.json({ ok: true, version: BROKER_VERSION, configDigest: deps.configDigest() });
  });

  app.get('/metrics', async (c) => {
    // Loopback and metrics_allow only, judged on the address behind trusted proxies (behind a proxy on the same
    // host every socket peer is loopback); anyone else is told there is no such endpoint.
    const client = c.get('client');
    const allowed =
      client === IN_PROCESS || isLoopbackAddress(client) || deps.config().metricsAllow.has(client);
    if (!allowed)
      throw new BrokerError('not_found', 'no such endpoint (see /.well-known/openid-configuration)');
    c.header('Content-Type', deps.metrics.registry.contentType);
    return c.body(await deps.metrics.registry.metrics());
  });

  app.get('/.well-known/jwks.json', (c) => {
    c.header('Cache-Control', 'public, max-age=300');
    return c.json(deps.keys.jwks());
  });

  app.get('/.well-known/openid-configuration', (c) => {
    const config = deps.config();
    c.header('Cache-Control', 'public, max-age=300');
    return c.json({
      issuer: config.publicUrl,
      jwks_uri: `${config.publicUrl}/.well-known/jwks.json`,
      id_token_signing_alg_values_supported: ['ES256'],
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      claims_supported: ['project', 'isolated', 'scope', 'cache', 'rule', 'repository', 'ref', 'event_name'],
      token_endpoint: `${config.publicUrl}/v2/token`,
      exchange_endpoints: Object.keys(PROVIDERS).map((p) => `${config.publicUrl}/auth/oidc/${p}`),
      fork_claim_endpoints: [`${config.publicUrl}${CLAIM_PATH}`, `${config.publicUrl}${CLAIM_EXCHANGE_PATH}`],
    });
  });

  // Fork pull requests (fork-claim.ts). A refusal counts against the client's failure budget; a 503 (GitHub) and a
  // 202 (pending) never do, and a 202 does not count as a request either.
  const refused = (err: unknown): boolean =>
    err instanceof BrokerError && err.status < 500 && err.code !== 'rate_limited';

  app.post(CLAIM_PATH, limitBody(MAX_BODY_BYTES), async (c) => {
    const config = deps.config();
    const client = c.get('client');
    const key = rateKey(client);
    refuseOver(
      key,
      [
        [claimsByAddress, config.rateLimit.claimsPerAddress],
        [failures, config.rateLimit.failuresPerAddress],
      ],
      'claims from this address',
      () => deps.metrics.forkClaims.inc({ endpoint: 'claim', outcome: 'rate_limited' }),
    );
    claimsByAddress.add(key);
    const admitRun = (run: string) => {
      refuseOver(run, [[claimsByRun, config.rateLimit.claimsPerRun]], 'claims for this run');
      claimsByRun.add(run);
    };
    try {
      const result = await claim(
        deps,
        await c.req.text(),
        { requestId: c.get('requestId'), client },
        admitRun,
      );
      c.header('Cache-Control', 'no-store');
      return c.json(result, 201);
    } catch (err: unknown) {
      if (refused(err)) failures.add(key);
      throw err;
    }
  });

  app.post(CLAIM_EXCHANGE_PATH, limitBody(MAX_BODY_BYTES), async (c) => {
    const config = deps.config();
    const client = c.get('client');
    const key = rateKey(client);
    refuseOver(key, exchangeLimits(config), 'exchange requests from this address', () =>
      deps.metrics.forkClaims.inc({ endpoint: 'exchange', outcome: 'rate_limited' }),
    );
    c.header('Cache-Control', 'no-store');
    try {
      const result = await claimExchange(deps, await c.req.text(), {
        requestId: c.get('requestId'),
        client,
      });
      if (!result.ok) {
        c.header('Retry-After', String(result.retryAfter));
        return c.json(result, 202);
      }
      limiter.add(key);
      return c.json(result);
    } catch (err: unknown) {
      limiter.add(key);
      if (refused(err)) failures.add(key);
      throw err;
    }
  });

  /** POST /auth/oidc/<provider> after the body limit, on either path. */
  const exchangeRoute = async (
    provider: string,
    body: () => Promise<string>,
    ctx: RequestContext,
  ): Promise<ExchangeSuccess> => {
    if (!Object.hasOwn(PROVIDERS, provider)) {
      throw new BrokerError(
        'not_found',
        `no exchange for ${JSON.stringify(provider.slice(0, 40))} on this broker (available: ${Object.keys(PROVIDERS).join(', ')})`,
      );
    }
    const config = deps.config();
    const key = rateKey(ctx.client);
    refuseOver(key, exchangeLimits(config), 'exchange requests from this address', () =>
      deps.metrics.exchanges.inc({ provider, outcome: 'rate_limited' }),
    );
    limiter.add(key);
    const end = deps.metrics.exchangeSeconds.startTimer({ provider });
    try {
      // A body that never arrives whole (the client closed the connection) is the client's doing, not an internal
      // failure: a 400 nobody may read, counted as a malformed request, not logged as an error.
      const text = await body().catch((err: unknown) => {
        throw err instanceof BrokerError
          ? err
          : new BrokerError('malformed_request', 'the request body ended before it was complete');
      });
      const result = await exchange(deps, provider, text, ctx);
      deps.metrics.exchanges.inc({ provider, outcome: 'ok' });
      return result;
    } catch (err: unknown) {
      const code = err instanceof BrokerError ? err.code : 'internal';
      deps.metrics.exchanges.inc({ provider, outcome: code });
      if (code !== 'jwks_unavailable' && code !== 'internal') failures.add(key);
      throw err;
    } finally {
      end();
    }
  };

  app.post('/auth/oidc/:provider', limitBody(MAX_BODY_BYTES), async (c) => {
    const result = await exchangeRoute(c.req.param('provider'), () => c.req.text(), {
      requestId: c.get('requestId'),
      client: c.get('client'),
    });
    c.header('Cache-Control', 'no-store');
    return c.json(result);
  });

  const tokenService = async (c: Context<Env>, form: URLSearchParams | undefined) => {
    const key = rateKey(c.get('client'));
    const { registryPerAddress, registryFailuresPerAddress } = deps.config().rateLimit;
    // Every login is an audit row, a granted one too: the rows one address can add a minute are bounded.
    refuseOver(
      key,
      [
        [registryLogins, registryPerAddress],
        [registryFailures, registryFailuresPerAddress],
      ],
      'registry logins from this address',
      () => deps.metrics.registryTokens.inc({ outcome: 'rate_limited' }),
    );
    registryLogins.add(key);
    try {
      return await issueRegistryToken(c, form);
    } catch (err: unknown) {
      if (err instanceof BrokerError && err.status < 500) registryFailures.add(key);
      throw err;
    }
  };

  const issueRegistryToken = async (c: Context<Env>, form: URLSearchParams | undefined) => {
    const query = new URL(c.req.url).searchParams;
    let password = basicPassword(c.req.header('authorization'));
    let scopes = splitScopes(query.getAll('scope'));
    let service = query.get('service') ?? undefined;
    if (form) {
      const grant = form.get('grant_type');
      if (grant !== 'password') {
        throw new BrokerError(
          'malformed_request',
          `grant_type ${JSON.stringify(grant ?? '')} is not supported: use password`,
        );
      }
      password = form.get('password') ?? undefined;
      scopes = splitScopes(form.getAll('scope'));
      service = form.get('service') ?? service;
    }
    const result = await registryToken(
      deps,
      { password, service, scopes },
      { requestId: c.get('requestId'), client: c.get('client') },
    );
    c.header('Cache-Control', 'no-store');
    if (form) {
      return c.json({
        access_token: result.token,
        token_type: 'Bearer',
        expires_in: result.expiresIn,
        issued_at: result.issuedAt,
        scope: scopes.join(' '),
      });
    }
    return c.json({
      token: result.token,
      access_token: result.token,
      expires_in: result.expiresIn,
      issued_at: result.issuedAt,
    });
  };

  app.get('/v2/token', (c) => tokenService(c, undefined));
  app.post('/v2/token', limitBody(MAX_BODY_BYTES), async (c) =>
    tokenService(c, new URLSearchParams(await c.req.text())),
  );

  const listener =
    (viaHono: RequestListener): RequestListener =>
    (req, res) => {
      const match = req.method === 'POST' && req.url !== undefined ? EXCHANGE_URL.exec(req.url) : null;
      if (!match) {
        void viaHono(req, res);
        return;
      }
      const requestId = newRequestId();
      const xff = req.headers['x-forwarded-for'];
      const client = clientOf(
        req.socket.remoteAddress ?? UNKNOWN_PEER,
        Array.isArray(xff) ? xff.join(', ') : xff,
      );
      const refuse = (err: unknown) => {
        const e = errorAnswer(deps, err, requestId, '');
        answer(res, e.status, e.headers, e.body);
      };
      // As limitBody does before hono's route: a Content-Length over the limit is refused before anything else.
      const declared = declaredLength(req.headers['content-length'], req.headers['transfer-encoding']);
      if (declared !== undefined && declared > MAX_BODY_BYTES) return refuse(bodyTooLarge(MAX_BODY_BYTES));
      exchangeRoute(match[1] ?? '', () => readBody(req, MAX_BODY_BYTES), { requestId, client }).then(
        (result) => answer(res, 200, { 'X-Request-Id': requestId, 'Cache-Control': 'no-store' }, result),
        refuse,
      );
    };
  return { app, listener: () => listener(getRequestListener(app.fetch)) };
}

/** The body's length as its Content-Length declares it (Node's parser never reads past it), when that alone decides:
 * a plain number and no Transfer-Encoding. */
function declaredLength(
  contentLength: string | undefined,
  transferEncoding: string | undefined,
): number | undefined {
  if (contentLength === undefined || transferEncoding !== undefined || !/^\d+$/.test(contentLength))
    return undefined;
  return Number(contentLength);
}

/** A JSON answer straight to node:http, as hono's c.json() writes one. */
function answer(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

function bodyTooLarge(max: number): BrokerError {
  return new BrokerError('token_too_large', `the request body is over ${max} bytes`);
}

/** A request's body as text (UTF-8, as a web Request's text() reads it); past `max` bytes (a body without a
 * Content-Length) it is refused with 413 as it streams in, as hono's bodyLimit does. */
function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        reject(bodyTooLarge(max));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(utf8.decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks))));
    req.once('error', reject);
  });
}
