// How the exchange travels, against real listeners on loopback (no msw: the proxy and the redirect are the point):
// the broker URL's scheme and credentials, redirects, the runner's HTTPS_PROXY/NO_PROXY, and the request id a
// refusal names.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { githubContext } from '../test/support/github-context';
import { resolveToken } from './token';
import type { TokenDeps, TokenRequest } from './token';
import { startConnectProxy } from '../test/support/connect-proxy';
import type { ConnectProxy } from '../test/support/connect-proxy';

const OIDC = 'oidc-header.oidc-claims-very-secret.oidc-signature';
const servers: Server[] = [];

afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen(
  host: string,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; url: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method ?? ''} ${req.url ?? ''}`);
    req.resume();
    req.on('end', () => handler(req, res));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, url: `http://${host}:${(server.address() as AddressInfo).port}`, hits };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

let idTokens = 0;
function deps(over: Partial<TokenDeps> = {}): TokenDeps {
  idTokens = 0;
  return {
    env: { ACTIONS_ID_TOKEN_REQUEST_URL: 'http://runtime.invalid', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'x' },
    github: githubContext(),
    getIDToken: () => {
      idTokens++;
      return Promise.resolve(OIDC);
    },
    fetch: globalThis.fetch,
    sleep: () => Promise.resolve(),
    log: { info: () => {}, warning: () => {}, debug: () => {} },
    attempts: 2,
    timeoutMs: 5_000,
    ...over,
  };
}

const req = (brokerUrl: string): TokenRequest => ({
  token: '',
  project: '',
  brokerUrl,
  audience: '',
  buildxFallback: false,
  forkWait: 60,
});

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err: unknown) {
    return err instanceof Error ? err.message : String(err);
  }
  throw new Error('expected a failure');
}

describe('the broker URL', () => {
  it.each([
    ['http on a public host', 'http://broker.example.com', 'is http:// on broker.example.com'],
    ['http on a private address', 'http://10.0.0.5:8080', 'is http:// on 10.0.0.5'],
    ['credentials', 'https://depot:hunter2-secret@broker.example.com', 'carries a user name or password'],
    ['credentials on loopback', 'http://depot:hunter2-secret@127.0.0.1:1', 'carries a user name or password'],
  ])('refuses %s before any token is asked for, never echoing a password', async (_what, url, message) => {
    const msg = await failure(resolveToken(req(url), deps()));
    expect(msg).toContain(message);
    expect(msg).not.toContain('hunter2');
    expect(idTokens).toBe(0);
  });

  it('accepts http on loopback', async () => {
    const broker = await listen('127.0.0.1', (_q, res) =>
      json(res, 200, {
        ok: true,
        token: 'p.t.k',
        project: 'web',
        isolated: false,
        expiresAt: new Date().toISOString(),
      }),
    );
    expect(await resolveToken(req(broker.url), deps())).toMatchObject({ kind: 'token', project: 'web' });
  });
});

describe('redirects', () => {
  it('never re-posts the OIDC token to another origin, and names where the redirect pointed', async () => {
    const elsewhere = await listen('127.0.0.2', (_q, res) => json(res, 200, {}));
    const broker = await listen('127.0.0.1', (_q, res) =>
      json(res, 307, {}, { location: `${elsewhere.url}/auth/oidc/github-actions` }),
    );
    const msg = await failure(resolveToken(req(broker.url), deps()));
    expect(msg).toContain(`redirected the token exchange (307) to ${new URL(elsewhere.url).host}`);
    expect(elsewhere.hits).toEqual([]);
    expect(broker.hits).toHaveLength(1); // a refusal of the setup, not retried
  });

  it('follows a 307 within the broker origin', async () => {
    const broker = await listen('127.0.0.1', (q, res) => {
      if (q.url === '/auth/oidc/github-actions') {
        json(res, 307, {}, { location: '/v2/auth/oidc/github-actions' });
      } else {
        json(res, 200, {
          ok: true,
          token: 'p.t.k',
          project: 'web',
          isolated: false,
          expiresAt: new Date().toISOString(),
        });
      }
    });
    expect(await resolveToken(req(broker.url), deps())).toMatchObject({ kind: 'token' });
    expect(broker.hits).toEqual(['POST /auth/oidc/github-actions', 'POST /v2/auth/oidc/github-actions']);
  });
});

describe('a refusal', () => {
  it('names the request id the broker gave, for the operator', async () => {
    const broker = await listen('127.0.0.1', (_q, res) =>
      json(
        res,
        403,
        {
          ok: false,
          error: { code: 'no_trust_relationship', message: 'not trusted', requestId: 'req-7f3a' },
        },
        { 'x-request-id': 'req-7f3a' },
      ),
    );
    const msg = await failure(resolveToken(req(broker.url), deps()));
    expect(msg).toBe(
      'The broker refused the token exchange (403 no_trust_relationship, request id req-7f3a): not trusted',
    );
  });
});

describe("the runner's proxy", () => {
  async function proxy(): Promise<ConnectProxy> {
    const p = await startConnectProxy();
    servers.push(p.server);
    return p;
  }

  it('goes through HTTPS_PROXY', async () => {
    const p = await proxy();
    vi.stubEnv('HTTPS_PROXY', p.url);
    vi.stubEnv('NO_PROXY', '');
    const msg = await failure(resolveToken(req('https://broker.invalid'), deps()));
    expect(p.connects).toEqual(['broker.invalid:443', 'broker.invalid:443']);
    expect(msg).toContain('cannot reach the broker at https://broker.invalid');
    expect(msg).not.toContain(OIDC);
  });

  it('skips the proxy for NO_PROXY hosts', async () => {
    const p = await proxy();
    vi.stubEnv('HTTPS_PROXY', p.url);
    vi.stubEnv('NO_PROXY', '.invalid');
    await failure(resolveToken(req('https://broker.invalid'), deps()));
    expect(p.connects).toEqual([]);
  });
});
