// The exchange is served straight off node:http (app.ts `listener`), every other request through hono, which keeps
// the same route for in-process use. Both paths must answer alike: each request below goes over a real socket to a
// running broker and in-process to its hono app, and the two answers are compared (status, JSON body but the request
// id, and the headers a client reads).
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from './broker';
import { startQuietBroker } from '../../test/support/broker';
import { MAX_BODY_BYTES } from './app';

let running: RunningBroker;

beforeAll(async () => {
  running = await startQuietBroker(
    `public_url: http://127.0.0.1:8080
issuers:
  github-actions:
    issuer: https://token.actions.example.test
rate_limit: { per_address: 0, failures_per_address: 0 }
projects:
  - id: web
    rules:
      - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "1" }
`,
    'broker-exchange-path-',
  );
});
afterAll(async () => {
  await running.stop();
});

interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
  body: Record<string, unknown>;
}

/** What a client reads of an answer; the request id only as "present, and the same in the header and the body". */
function seen(a: Answer) {
  const error = a.body.error as { requestId?: unknown } | undefined;
  expect(a.headers['x-request-id']).toMatch(/^[0-9a-f]{16}$/);
  if (error) expect(error.requestId).toBe(a.headers['x-request-id']);
  const body = error ? { ...a.body, error: { ...error, requestId: '<id>' } } : a.body;
  return {
    status: a.status,
    body,
    contentType: a.headers['content-type']?.split(';')[0],
    cacheControl: a.headers['cache-control'],
    retryAfter: a.headers['retry-after'],
  };
}

/** Over a socket; `chunks` send the body without a Content-Length (chunked). */
function overSocket(path: string, body: string | string[], headers: Record<string, string> = {}) {
  return new Promise<Answer>((resolve, reject) => {
    const req = request(
      new URL(path, running.url),
      { method: 'POST', headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: Object.fromEntries(
              Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]),
            ),
            body: JSON.parse(text) as Record<string, unknown>,
          }),
        );
      },
    );
    req.on('error', reject);
    if (Array.isArray(body)) {
      for (const chunk of body) req.write(chunk);
      req.end();
    } else {
      req.setHeader('content-length', String(Buffer.byteLength(body)));
      req.end(body);
    }
  });
}

async function inProcess(path: string, body: string): Promise<Answer> {
  const r = await running.broker.app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  return {
    status: r.status,
    headers: Object.fromEntries(r.headers.entries()),
    body: (await r.json()) as Record<string, unknown>,
  };
}

const garbage = JSON.stringify({ token: 'not.a.jwt' });
const huge = JSON.stringify({ token: 'x'.repeat(MAX_BODY_BYTES) });

describe('POST /auth/oidc/<provider> over node:http', () => {
  it.each([
    ['a token that is no JWT', '/auth/oidc/github-actions', garbage, 401, 'malformed_token'],
    ['a body that is no JSON', '/auth/oidc/github-actions', '{"token":', 400, 'malformed_request'],
    ['an unknown field', '/auth/oidc/github-actions', '{"token":"a","scope":"x"}', 400, 'malformed_request'],
    ['a provider the broker does not have', '/auth/oidc/nowhere', garbage, 404, 'not_found'],
    ['a Content-Length over the limit', '/auth/oidc/github-actions', huge, 413, 'token_too_large'],
  ])('%s: answered as hono answers it', async (_what, path, body, status, code) => {
    const direct = seen(await overSocket(path, body));
    expect(direct).toMatchObject({
      status,
      body: { ok: false, error: { code } },
      contentType: 'application/json',
      cacheControl: 'no-store',
    });
    expect(direct).toEqual(seen(await inProcess(path, body)));
  });

  it('refuses a chunked body past the limit with 413, as it streams in', async () => {
    const chunk = 'x'.repeat(16 * 1024);
    const chunks = ['{"token":"', ...Array.from({ length: 5 }, () => chunk), '"}'];
    const r = seen(await overSocket('/auth/oidc/github-actions', chunks));
    expect(r).toMatchObject({ status: 413, body: { error: { code: 'token_too_large' } } });
    // A chunked body under the limit is read whole.
    const small = seen(await overSocket('/auth/oidc/github-actions', ['{"token":', '"not.a.jwt"}']));
    expect(small).toMatchObject({ status: 401, body: { error: { code: 'malformed_token' } } });
  });

  it.each([
    ['the exchange', '/auth/oidc/github-actions'],
    ['hono (a registry login)', '/v2/token'],
  ])(
    '%s: closes the connection after refusing a body over the limit, without reading it',
    async (_what, path) => {
      const socket = connect(Number(new URL(running.url).port), '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      let answer = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (answer += d));
      const closed = new Promise((resolve) => socket.once('close', resolve));
      // Declares 1 GB and sends a little of it: the answer comes at once, and the broker ends the connection.
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: broker\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{"token":"`,
      );
      const timer = setInterval(() => socket.writable && socket.write('x'.repeat(1024)), 10);
      await closed;
      clearInterval(timer);
      expect(answer).toMatch(/^HTTP\/1\.1 413 /);
      expect(answer.toLowerCase()).toContain('connection: close');
      expect(answer).toContain('"code":"token_too_large"');
    },
  );

  it('leaves an exchange URL of another shape (a query string) to hono, with the same answer', async () => {
    const plain = seen(await overSocket('/auth/oidc/github-actions', garbage));
    const query = seen(await overSocket('/auth/oidc/github-actions?via=proxy', garbage));
    expect(query).toEqual(plain);
  });

  it('counts a body cut short by the client (connection closed) as a malformed request on both paths, never internal', async () => {
    const count = async (outcome: string) => {
      const text = await (await fetch(`${running.url}/metrics`)).text();
      const m = new RegExp(
        `broker_exchanges_total\\{provider="github-actions",outcome="${outcome}"\\} (\\d+)`,
      ).exec(text);
      return Number(m?.[1] ?? 0);
    };
    const before = { malformed: await count('malformed_request'), internal: await count('internal') };
    for (const path of ['/auth/oidc/github-actions', '/auth/oidc/github-actions?via=hono']) {
      const socket = connect(Number(new URL(running.url).port), '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: broker\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"token":"a`,
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      socket.destroy();
    }
    for (let i = 0; i < 50 && (await count('malformed_request')) < before.malformed + 2; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await count('malformed_request')).toBe(before.malformed + 2);
    expect(await count('internal')).toBe(before.internal);
  });

  it('keeps serving hono routes beside it', async () => {
    const r = await fetch(`${running.url}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ ok: true });
  });
});
