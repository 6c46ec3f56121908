// The one exchange client against real listeners on loopback (no msw: redirects and the proxy are the point): its
// outcomes, retries with a fresh CI token per try, Retry-After, same-origin redirects only, HTTPS_PROXY/NO_PROXY,
// the broker URL's rules, and no secret in any message.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UserError } from '../errors';
import { checkBrokerUrl, exchangeToken, retryAfterMs } from './exchange-client';
import type { ExchangeCall, ExchangeClientDeps } from './exchange-client';
import { startConnectProxy } from '../../test/support/connect-proxy';
import type { ConnectProxy } from '../../test/support/connect-proxy';

const servers: Server[] = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

interface Hit {
  method: string;
  url: string;
  body: string;
}

async function listen(
  host: string,
  handler: (req: IncomingMessage, res: ServerResponse, n: number) => void,
): Promise<{ url: string; hits: Hit[] }> {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      hits.push({ method: req.method ?? '', url: req.url ?? '', body });
      handler(req, res, hits.length);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, host, r));
  return { url: `http://${host}:${(server.address() as AddressInfo).port}`, hits };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

const GRANT = {
  ok: true,
  token: 'project-token-secret',
  project: 'web',
  isolated: false,
  expiresAt: '2030-01-01T00:00:00.000Z',
};

let minted: string[];
let sleeps: number[];
let secrets: string[];

function call(brokerUrl: string, over: Partial<ExchangeCall> = {}): ExchangeCall {
  minted = [];
  return {
    brokerUrl,
    provider: 'circleci',
    project: 'web',
    ciToken: () => {
      const t = `ci-token-${minted.length + 1}-secret`;
      minted.push(t);
      return Promise.resolve(t);
    },
    setting: 'DEPOT_BROKER_URL',
    ...over,
  };
}

function deps(over: Partial<ExchangeClientDeps> = {}): ExchangeClientDeps {
  sleeps = [];
  secrets = [];
  return {
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    secret: (v) => secrets.push(v),
    timeoutMs: 5_000,
    ...over,
  };
}

describe('exchangeToken outcomes', () => {
  it('granted: posts {token, project} to the provider path, registers both secrets', async () => {
    const broker = await listen('127.0.0.1', (_q, res) => json(res, 200, GRANT));
    const out = await exchangeToken(call(broker.url), deps());
    expect(out).toEqual({ kind: 'granted', grant: GRANT });
    expect(broker.hits).toEqual([
      {
        method: 'POST',
        url: '/auth/oidc/circleci',
        body: JSON.stringify({ token: 'ci-token-1-secret', project: 'web' }),
      },
    ]);
    expect(secrets).toEqual(['ci-token-1-secret', 'project-token-secret']);
  });

  it('sends no project when none is named', async () => {
    const broker = await listen('127.0.0.1', (_q, res) => json(res, 200, GRANT));
    await exchangeToken(call(broker.url, { project: '' }), deps());
    expect(JSON.parse(broker.hits[0]?.body ?? '')).toEqual({ token: 'ci-token-1-secret' });
  });

  it('refused: a 4xx with its status, code, message and request id, not retried, clean of the CI token', async () => {
    const broker = await listen('127.0.0.1', (_q, res) =>
      json(res, 403, {
        ok: false,
        error: { code: 'no_trust_relationship', message: 'no rule for ci-token-1-secret', requestId: 'r-1' },
      }),
    );
    const out = await exchangeToken(call(broker.url), deps());
    expect(out).toEqual({
      kind: 'refused',
      status: 403,
      code: 'no_trust_relationship',
      message: 'no rule for ***',
      requestId: 'r-1',
    });
    expect(broker.hits).toHaveLength(1);
  });

  it('refused without a contract body: http_<status> and the X-Request-Id header', async () => {
    const broker = await listen('127.0.0.1', (_q, res) => {
      res.writeHead(401, { 'x-request-id': 'hdr-2' });
      res.end('<html>no</html>');
    });
    expect(await exchangeToken(call(broker.url), deps())).toMatchObject({
      kind: 'refused',
      status: 401,
      code: 'http_401',
      requestId: 'hdr-2',
    });
  });

  it('unavailable after bounded retries on 5xx, a fresh CI token per try, backing off 1, 2, 4 s', async () => {
    const broker = await listen('127.0.0.1', (_q, res) =>
      json(res, 502, { ok: false, error: { code: 'internal', message: 'upstream' } }),
    );
    const out = await exchangeToken(call(broker.url), deps());
    expect(out).toEqual({
      kind: 'unavailable',
      reason: 'the broker answered 502 internal: upstream after 4 tries',
    });
    expect(broker.hits.map((h) => (JSON.parse(h.body) as { token: string }).token)).toEqual(minted);
    expect(new Set(minted).size).toBe(4);
    expect(sleeps).toEqual([1000, 2000, 4000]);
  });

  it('honours Retry-After on 429 and 503, in seconds or as a date, capped at a minute', async () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    const answers = [
      { status: 429, retry: '7' },
      { status: 503, retry: new Date(now + 3000).toUTCString() },
      { status: 503, retry: '3600' },
    ];
    const broker = await listen('127.0.0.1', (_q, res, n) => {
      const a = answers[n - 1];
      if (!a) return json(res, 200, GRANT);
      json(
        res,
        a.status,
        { ok: false, error: { code: 'rate_limited', message: '' } },
        { 'retry-after': a.retry },
      );
    });
    const out = await exchangeToken(call(broker.url), deps({ now: () => now }));
    expect(out.kind).toBe('granted');
    expect(sleeps).toEqual([7000, 3000, 60_000]);
  });

  it('unavailable when the broker cannot be reached, naming the cause', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((r) => closed.close(r));
    const out = await exchangeToken(call(url), deps({ attempts: 2 }));
    expect(out).toEqual({
      kind: 'unavailable',
      reason: `cannot reach the broker at ${url} (connect ECONNREFUSED ${url.slice(7)}) after 2 tries`,
    });
  });

  it('a CI token that cannot be had: a UserError ends at once; any other failure is a failed try', async () => {
    const broker = await listen('127.0.0.1', (_q, res) => json(res, 200, GRANT));
    const fatal = call(broker.url, { ciToken: () => Promise.reject(new UserError('no circleci')) });
    await expect(exchangeToken(fatal, deps())).rejects.toThrow('no circleci');
    let n = 0;
    const flaky = call(broker.url, {
      ciToken: () =>
        n++ === 0 ? Promise.reject(new Error('agent busy')) : Promise.resolve(n === 2 ? '  ' : 'ci-ok'),
    });
    expect((await exchangeToken(flaky, deps())).kind).toBe('granted');
    expect(sleeps).toEqual([1000, 2000]);
    expect(broker.hits).toHaveLength(1);
    const never = call(broker.url, { ciToken: () => Promise.reject(new Error('agent busy')) });
    expect(await exchangeToken(never, deps({ attempts: 2 }))).toEqual({
      kind: 'unavailable',
      reason: 'agent busy after 2 tries',
    });
  });

  it('a 2xx that is no grant is a UserError', async () => {
    const broker = await listen('127.0.0.1', (_q, res) => json(res, 200, { ok: true }));
    await expect(exchangeToken(call(broker.url), deps())).rejects.toThrow(
      `The broker at ${broker.url} answered 200 without a project token.`,
    );
  });
});

describe('redirects', () => {
  it('follows a 307/308 within the broker origin', async () => {
    const broker = await listen('127.0.0.1', (q, res) => {
      if (q.url === '/auth/oidc/gitlab') json(res, 308, {}, { location: '/v2/auth/oidc/gitlab' });
      else json(res, 200, GRANT);
    });
    expect((await exchangeToken(call(broker.url, { provider: 'gitlab' }), deps())).kind).toBe('granted');
    expect(broker.hits.map((h) => h.url)).toEqual(['/auth/oidc/gitlab', '/v2/auth/oidc/gitlab']);
    expect(broker.hits[1]?.body).toBe(broker.hits[0]?.body);
  });

  it('never sends the CI token to another origin, and names the setting to fix', async () => {
    const elsewhere = await listen('127.0.0.2', (_q, res) => json(res, 200, GRANT));
    const broker = await listen('127.0.0.1', (_q, res) =>
      json(res, 307, {}, { location: `${elsewhere.url}/auth/oidc/circleci` }),
    );
    await expect(exchangeToken(call(broker.url), deps())).rejects.toThrow(
      `The broker at ${broker.url} redirected the token exchange (307) to ${new URL(elsewhere.url).host}: the OIDC token is never sent to another host; set DEPOT_BROKER_URL to the broker's own URL.`,
    );
    expect(elsewhere.hits).toEqual([]);
    expect(broker.hits).toHaveLength(1);
  });

  it('refuses a 302 (which would turn the POST into a GET) and a redirect loop', async () => {
    const found = await listen('127.0.0.1', (_q, res) => json(res, 302, {}, { location: '/x' }));
    await expect(exchangeToken(call(found.url), deps())).rejects.toThrow(
      'answered 302 with a redirect to /x',
    );
    const loop = await listen('127.0.0.1', (q, res) => json(res, 307, {}, { location: `${q.url ?? ''}x` }));
    await expect(exchangeToken(call(loop.url), deps())).rejects.toThrow('answered 307 with a redirect to');
    expect(loop.hits).toHaveLength(3);
  });
});

describe('the proxy', () => {
  async function proxy(): Promise<ConnectProxy> {
    const p = await startConnectProxy();
    servers.push(p.server);
    return p;
  }

  it('goes through HTTPS_PROXY, and skips it for NO_PROXY hosts', async () => {
    const p = await proxy();
    vi.stubEnv('HTTPS_PROXY', p.url);
    vi.stubEnv('NO_PROXY', '');
    const out = await exchangeToken(call('https://broker.invalid'), deps({ attempts: 2 }));
    expect(p.connects).toEqual(['broker.invalid:443', 'broker.invalid:443']);
    expect(out.kind).toBe('unavailable');
    vi.stubEnv('NO_PROXY', '.invalid');
    await exchangeToken(call('https://broker.invalid'), deps({ attempts: 1 }));
    expect(p.connects).toHaveLength(2);
  });
});

describe('checkBrokerUrl', () => {
  it('strips trailing slashes and accepts https anywhere, http on loopback', () => {
    expect(checkBrokerUrl('https://broker.example.com/', 'X')).toBe('https://broker.example.com');
    expect(checkBrokerUrl('http://127.0.0.1:8080', 'X')).toBe('http://127.0.0.1:8080');
    expect(checkBrokerUrl('http://[::1]:8080/', 'X')).toBe('http://[::1]:8080');
    expect(checkBrokerUrl('http://localhost', 'X')).toBe('http://localhost');
  });

  it.each([
    ['http://broker.example.com', 'DEPOT_BROKER_URL is http:// on broker.example.com'],
    ['https://u:hunter2@broker.example.com', 'DEPOT_BROKER_URL carries a user name or password'],
    ['ftp://broker.example.com', 'DEPOT_BROKER_URL must be an https URL, got "ftp://broker.example.com".'],
    ['u:hunter2@broker', 'DEPOT_BROKER_URL must be an https URL, got "***@broker".'],
  ])('refuses %s, naming where it came from and never a password', (raw, message) => {
    let msg = '';
    try {
      checkBrokerUrl(raw, 'DEPOT_BROKER_URL');
    } catch (err: unknown) {
      msg = err instanceof UserError ? err.message : 'not a UserError';
    }
    expect(msg).toContain(message);
    expect(msg).not.toContain('hunter2');
  });

  it('reads Retry-After', () => {
    expect(retryAfterMs('0')).toBe(0);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(retryAfterMs('soon')).toBeUndefined();
  });
});
