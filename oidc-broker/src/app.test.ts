// Addresses as the broker sees them, through a real listener: clients bound to distinct loopback addresses
// (app.request() has no socket peer), a trusted proxy at 127.0.0.2, an untrusted client at 127.0.0.3.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRequestId } from './app';
import type { RunningBroker } from './broker';
import { startQuietBroker } from '../../test/support/broker';
import { requestFrom } from '../../test/support/http';
import type { Reply } from '../../test/support/http';

const PROXY = '127.0.0.2';
const CLIENT = '127.0.0.3';
let running: RunningBroker;

const CONFIG = `public_url: http://127.0.0.1:8080
issuers:
  github-actions:
    issuer: https://token.actions.example.test
trusted_proxies: [${PROXY}]
metrics_allow: [203.0.113.0/24]
rate_limit: { per_address: 0, failures_per_address: 2, registry_failures_per_address: 3 }
projects:
  - id: web
    rules:
      - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "1" }
`;

type Answer = Reply;

function call(
  from: string,
  method: string,
  path: string,
  opts: { forwardedFor?: string; body?: string; headers?: Record<string, string> } = {},
  base: string = running.url,
): Promise<Answer> {
  return requestFrom(new URL(path, base), {
    method,
    localAddress: from,
    body: opts.body,
    headers: { ...(opts.forwardedFor ? { 'x-forwarded-for': opts.forwardedFor } : {}), ...opts.headers },
  });
}

beforeAll(async () => {
  running = await startQuietBroker(CONFIG, 'broker-app-');
});
afterAll(async () => {
  await running.stop();
});

const garbage = { body: JSON.stringify({ token: 'not.a.jwt' }) };

describe('the client address', () => {
  it('is the socket peer for an untrusted client, whatever X-Forwarded-For it sends', async () => {
    const r = await call(CLIENT, 'POST', '/auth/oidc/github-actions', {
      ...garbage,
      forwardedFor: '198.51.100.1',
    });
    const id = String(r.headers['x-request-id']);
    const [row] = await running.broker.deps.state.queryAudit({ requestId: id });
    expect(row?.client).toBe(CLIENT);
  });

  it("is the trusted proxy's X-Forwarded-For client, and the rate limits count per that address", async () => {
    // 127.0.0.3 used one failure above: one more, then 429.
    expect((await call(CLIENT, 'POST', '/auth/oidc/github-actions', garbage)).status).toBe(401);
    const limited = await call(CLIENT, 'POST', '/auth/oidc/github-actions', garbage);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Behind the proxy, two other clients have budgets of their own.
    for (const client of ['198.51.100.7', '198.51.100.8']) {
      const a = await call(PROXY, 'POST', '/auth/oidc/github-actions', { ...garbage, forwardedFor: client });
      expect(a.status).toBe(401);
      const [row] = await running.broker.deps.state.queryAudit({
        requestId: String(a.headers['x-request-id']),
      });
      expect(row?.client).toBe(client);
    }
  });
});

describe('an IPv6 client', () => {
  it('counts by its /64: two addresses of one /64 share a failure budget, another /64 has its own; the audit keeps the address', async () => {
    const from = (client: string) =>
      call(PROXY, 'POST', '/auth/oidc/github-actions', { ...garbage, forwardedFor: client });
    const first = await from('2001:db8:1:2::a');
    expect(first.status).toBe(401);
    expect((await from('2001:db8:1:2:ffff:ffff:ffff:ffff')).status).toBe(401);
    // failures_per_address 2: a third address of the /64 is over the shared budget.
    const limited = await from('2001:db8:1:2::b');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    const other = await from('2001:db8:1:3::a');
    expect(other.status).toBe(401);
    for (const [r, client] of [
      [first, '2001:db8:1:2::a'],
      [other, '2001:db8:1:3::a'],
    ] as const) {
      const [row] = await running.broker.deps.state.queryAudit({
        requestId: String(r.headers['x-request-id']),
      });
      expect(row?.client).toBe(client);
    }
  });

  it('over IPv4-mapped IPv6, counts by its IPv4 address', async () => {
    const from = (client: string) =>
      call(PROXY, 'POST', '/auth/oidc/github-actions', { ...garbage, forwardedFor: client });
    expect((await from('::ffff:198.51.100.30')).status).toBe(401);
    expect((await from('::ffff:198.51.100.31')).status).toBe(401);
    expect((await from('198.51.100.30')).status).toBe(401);
    expect((await from('::ffff:c633:641e')).status).toBe(429); // 198.51.100.30 again, in hex
  });
});

describe('a request whose socket no longer has its peer address', () => {
  it('is known as "unknown": no loopback or in-process allowance, and its audit row says so', async () => {
    // As when the client closed the socket before anything read the address (runBroker's server reads it on accept,
    // so this is a server set up another way): the address reads as undefined.
    const listener = running.broker.listener();
    const server = createServer((req, res) => {
      Object.defineProperty(req.socket, 'remoteAddress', { value: undefined, configurable: true });
      listener(req, res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect((await call(CLIENT, 'GET', '/metrics', {}, base)).status).toBe(404);
      const r = await call(CLIENT, 'POST', '/auth/oidc/github-actions', garbage, base);
      expect(r.status).toBe(401);
      const [row] = await running.broker.deps.state.queryAudit({
        requestId: String(r.headers['x-request-id']),
      });
      expect(row?.client).toBe('unknown');
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('/metrics', () => {
  it('answers loopback clients and metrics_allow, and 404 to anyone else behind the proxy', async () => {
    expect((await call(CLIENT, 'GET', '/metrics')).status).toBe(200);
    expect((await call(PROXY, 'GET', '/metrics', { forwardedFor: '203.0.113.9' })).status).toBe(200);
    const outsider = await call(PROXY, 'GET', '/metrics', { forwardedFor: '198.51.100.7' });
    expect(outsider.status).toBe(404);
    expect(outsider.body).not.toContain('broker_');
  });
});

describe('/v2/token refusals', () => {
  it('are limited per client address: 429 with Retry-After, while another client is still answered', async () => {
    const bad = { headers: { authorization: `Basic ${Buffer.from('depot:forged').toString('base64')}` } };
    const from = (client: string) =>
      call(PROXY, 'GET', '/v2/token?service=depot-cache', { ...bad, forwardedFor: client });
    for (let i = 0; i < 3; i++) expect((await from('198.51.100.20')).status).toBe(401);
    const limited = await from('198.51.100.20');
    expect(limited.status).toBe(429);
    expect(JSON.parse(limited.body)).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await from('198.51.100.21')).status).toBe(401);
  });
});

describe('every response', () => {
  it('carries a fresh X-Request-Id', async () => {
    const a = await call(CLIENT, 'GET', '/healthz');
    const b = await call(CLIENT, 'GET', '/.well-known/jwks.json');
    expect(a.headers['x-request-id']).toMatch(/^[0-9a-f]{16}$/);
    expect(b.headers['x-request-id']).not.toBe(a.headers['x-request-id']);
  });

  it('has an id that sorts after every earlier one (the audit index on ids grows at one end), unique within a millisecond', () => {
    const t = Date.UTC(2026, 11, 1, 10, 0, 0);
    const later = [0, 1, 2, 999, 60_000, 86_400_000].map((ms) => newRequestId(t + ms));
    expect([...later].sort()).toEqual(later);
    for (const id of later) expect(id).toMatch(/^[0-9a-f]{16}$/);
    const sameMs = Array.from({ length: 2000 }, () => newRequestId(t));
    expect(new Set(sameMs).size).toBe(2000);
  });
});
