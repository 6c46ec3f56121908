// The registry token service, in-process: grants by scope and project, refusals, the x5c chain to the broker's CA,
// and key rotation without breaking tokens already minted.
import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from './broker';
import { createBroker } from './broker';
import type { Grant } from './providers/types';
import { mintProjectToken } from './mint';
import { REVOCATION_POLL_MS } from './state';
import { logInto } from '../../test/support/log';
import { ecKeyPair, rsaKeyPair } from '../../test/support/keys';

const BROKER = 'https://broker.example.test';
let dir: string;
let b: Broker;
const logs: string[] = [];
const secrets: string[] = [];

const CONFIG = `public_url: ${BROKER}
issuers:
  github-actions:
    issuer: https://token.actions.example.test
registry: { host: "localhost:5001", service: depot-cache }
projects:
  - id: web
    rules:
      - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "1" }
  - id: api
    cache_repository: cache/api-layers
    rules:
      - { id: api-main, provider: github-actions, repository: acme/api, repository_id: "2" }
`;

async function projectToken(
  project: string,
  grants: Grant[],
  isolated = false,
  exp?: number,
  from: Broker = b,
): Promise<string> {
  const config = from.deps.config();
  const p = config.projects.find((x) => x.id === project);
  if (!p?.rules[0]) throw new Error('no project');
  const minted = await mintProjectToken(
    config,
    from.deps.keys,
    { project: p, rule: p.rules[0], grants, isolated },
    { provider: 'github-actions', repository: 'acme/web' },
    exp === undefined ? undefined : exp - config.tokenTtl,
  );
  secrets.push(minted.token);
  return minted.token;
}

function basic(password: string): string {
  return `Basic ${Buffer.from(`depot:${password}`).toString('base64')}`;
}

interface TokenReply {
  status: number;
  body: { token?: string; access_token?: string; expires_in?: number; error?: { code: string } };
  text: string;
}

async function ask(password: string | undefined, scopes: string[], extra = ''): Promise<TokenReply> {
  const q = new URLSearchParams({ service: 'depot-cache' });
  for (const s of scopes) q.append('scope', s);
  const res = await b.app.request(`/v2/token?${q}${extra}`, {
    headers: password === undefined ? {} : { authorization: basic(password) },
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as TokenReply['body'], text };
}

async function access(password: string, scopes: string[]): Promise<Record<string, string[]>> {
  const r = await ask(password, scopes);
  expect(r.status, r.text).toBe(200);
  const token = r.body.token ?? '';
  const header = decodeProtectedHeader(token);
  const leaf = new X509Certificate(Buffer.from(header.x5c?.[0] ?? '', 'base64'));
  const { payload } = await jwtVerify(token, leaf.publicKey, {
    issuer: BROKER,
    audience: 'depot-cache',
    algorithms: ['ES256'],
  });
  const out: Record<string, string[]> = {};
  for (const a of payload.access as { name: string; actions: string[] }[]) out[a.name] = a.actions;
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'broker-registry-'));
  writeFileSync(join(dir, 'broker.yml'), CONFIG);
  const log = logInto(logs);
  b = await createBroker({ configPath: join(dir, 'broker.yml'), dataDir: join(dir, 'data'), log });
});

afterAll(async () => {
  await b.close();
  rmSync(dir, { recursive: true, force: true });
  const all = logs.join('');
  for (const s of secrets) expect(all).not.toContain(s);
});

const PULL_PUSH = (repo: string) => `repository:${repo}:pull,push`;

describe('GET /v2/token grants', () => {
  const table: {
    name: string;
    project: string;
    grants: Grant[];
    isolated?: boolean;
    want: Record<string, string[]>;
  }[] = [
    {
      name: 'cache:read pulls the cache, pulls builds',
      project: 'web',
      grants: ['build', 'cache:read'],
      want: { 'cache/web': ['pull'], 'builds/web': ['pull'], 'cache/api-layers': [], 'builds/api': [] },
    },
    {
      name: 'cache:write pushes and pulls the cache and builds',
      project: 'web',
      grants: ['build', 'cache:read', 'cache:write'],
      want: {
        'cache/web': ['pull', 'push'],
        'builds/web': ['pull', 'push'],
        'cache/api-layers': [],
        'builds/api': [],
      },
    },
    {
      name: 'build only: builds pull, no cache',
      project: 'web',
      grants: ['build'],
      want: { 'cache/web': [], 'builds/web': ['pull'], 'cache/api-layers': [], 'builds/api': [] },
    },
    {
      name: 'isolated: nothing at all',
      project: 'web',
      grants: ['build'],
      isolated: true,
      want: { 'cache/web': [], 'builds/web': [], 'cache/api-layers': [], 'builds/api': [] },
    },
    {
      name: 'another project: only its own repositories',
      project: 'api',
      grants: ['build', 'cache:read', 'cache:write'],
      want: {
        'cache/web': [],
        'builds/web': [],
        'cache/api-layers': ['pull', 'push'],
        'builds/api': ['pull', 'push'],
      },
    },
  ];

  it.each(table)('$name', async (row) => {
    const token = await projectToken(row.project, row.grants, row.isolated);
    const got = await access(token, Object.keys(row.want).map(PULL_PUSH));
    expect(got).toEqual(row.want);
  });

  it('never grants *, delete, catalog, or a name that only starts like ours', async () => {
    const token = await projectToken('web', ['build', 'cache:read', 'cache:write']);
    const got = await access(token, [
      'repository:cache/web:*,delete',
      'registry:catalog:*',
      'repository:cache/web/sub:pull,push',
      'repository:cache/webx:pull',
      'repository:builds/web2:pull',
    ]);
    expect(got).toEqual({ 'cache/web': [], 'cache/web/sub': [], 'cache/webx': [], 'builds/web2': [] });
  });

  it('answers several scopes, repeated and space-separated', async () => {
    const token = await projectToken('web', ['build', 'cache:read']);
    const got = await access(token, ['repository:builds/web:pull,push repository:cache/web:pull']);
    expect(got).toEqual({ 'builds/web': ['pull'], 'cache/web': ['pull'] });
  });
});

describe('POST /v2/token (grant_type=password, as BuildKit asks)', () => {
  it('answers the OAuth2 form', async () => {
    const token = await projectToken('web', ['build', 'cache:read', 'cache:write']);
    const form = new URLSearchParams({
      grant_type: 'password',
      username: 'depot',
      password: token,
      service: 'depot-cache',
      scope: 'repository:cache/web:pull,push',
      client_id: 'buildkit-client',
    });
    const res = await b.app.request('/v2/token', {
      method: 'POST',
      body: form,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const body = (await res.json()) as { access_token: string; expires_in: number };
    expect(res.status).toBe(200);
    expect(body.expires_in).toBeGreaterThan(0);
    expect(body.expires_in).toBeLessThanOrEqual(300);
  });

  it('refuses other grant types', async () => {
    const res = await b.app.request('/v2/token', {
      method: 'POST',
      body: 'grant_type=refresh_token&refresh_token=x',
    });
    expect(res.status).toBe(400);
  });
});

describe('/v2/token refuses', () => {
  it('no credentials, a wrong service, an expired token, a foreign key, and a CI token', async () => {
    expect((await ask(undefined, [PULL_PUSH('cache/web')])).body.error?.code).toBe('unauthorized');
    const good = await projectToken('web', ['build', 'cache:read']);
    const wrongService = await b.app.request('/v2/token?service=other&scope=repository:cache/web:pull', {
      headers: { authorization: basic(good) },
    });
    expect(wrongService.status).toBe(400);

    const expired = await projectToken(
      'web',
      ['build', 'cache:read'],
      false,
      Math.floor(Date.now() / 1000) - 60,
    );
    const r1 = await ask(expired, [PULL_PUSH('cache/web')]);
    expect([r1.status, r1.body.error?.code]).toEqual([401, 'unauthorized']);
    expect(r1.text).not.toContain(expired);

    const foreign = ecKeyPair();
    const forged = await new SignJWT({
      project: 'web',
      isolated: false,
      scope: 'build cache:read cache:write',
    })
      .setProtectedHeader({ alg: 'ES256', kid: b.deps.keys.signingKey().kid, typ: 'depot-project+jwt' })
      .setIssuer(BROKER)
      .setSubject('project:web')
      .setAudience(`${BROKER}/project`)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(foreign.privateKey);
    expect((await ask(forged, [PULL_PUSH('cache/web')])).status).toBe(401);

    const rsa = rsaKeyPair(2048);
    const ci = await new SignJWT({ repository: 'acme/web' })
      .setProtectedHeader({ alg: 'RS256', kid: 'x' })
      .setIssuer('https://token.actions.example.test')
      .setAudience(BROKER)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(rsa.privateKey);
    expect((await ask(ci, [PULL_PUSH('cache/web')])).status).toBe(401);
  });
});

describe('registry tokens and keys', () => {
  it('x5c carries a leaf issued by the registry CA, and only the leaf signs', async () => {
    const token = await projectToken('web', ['build', 'cache:read']);
    const r = await ask(token, [PULL_PUSH('cache/web')]);
    const header = decodeProtectedHeader(r.body.token ?? '');
    expect(header.alg).toBe('ES256');
    expect(header.kid).toBeUndefined();
    const leaf = new X509Certificate(Buffer.from(header.x5c?.[0] ?? '', 'base64'));
    const ca = new X509Certificate(readFileSync(b.deps.keys.caCertPath()));
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(ca.ca).toBe(true);
    const jwks = b.deps.keys.jwks().keys.map((k) => createPublicKey({ key: k, format: 'jwk' }));
    expect(jwks.some((k) => k.equals(leaf.publicKey))).toBe(false);
  });

  it('rotation: next was published before it signs, the retired key stays published, old tokens keep working', async () => {
    const before = b.deps.keys.jwks().keys.map((k) => k.kid);
    const old = await projectToken('web', ['build', 'cache:read']);
    const caBefore = readFileSync(b.deps.keys.caCertPath(), 'utf8');
    await b.rotate();
    const after = b.deps.keys.jwks().keys.map((k) => k.kid);
    const newKid = b.deps.keys.signingKey().kid;
    expect(before).toContain(newKid);
    expect(after).toEqual(expect.arrayContaining(before));
    expect(after).toHaveLength(3);
    expect((await access(old, [PULL_PUSH('cache/web')]))['cache/web']).toEqual(['pull']);
    const fresh = await projectToken('web', ['build', 'cache:read']);
    expect(decodeProtectedHeader(fresh).kid).toBe(newKid);
    expect(readFileSync(b.deps.keys.caCertPath(), 'utf8')).toBe(caBefore);
  });

  it('publishes openid-configuration and a cacheable JWKS', async () => {
    const res = await b.app.request('/.well-known/jwks.json');
    expect(res.headers.get('cache-control')).toMatch(/max-age=\d+/);
    const conf = (await (await b.app.request('/.well-known/openid-configuration')).json()) as Record<
      string,
      unknown
    >;
    expect(conf).toMatchObject({ issuer: BROKER, jwks_uri: `${BROKER}/.well-known/jwks.json` });
    expect((await b.app.request('/healthz')).status).toBe(200);
  });
});

describe('/v2/token logins per address', () => {
  it('granted ones count too (each is an audit row): past registry_per_address, 429 with Retry-After', async () => {
    writeFileSync(join(dir, 'limited.yml'), `${CONFIG}rate_limit: { registry_per_address: 3 }\n`);
    const limited = await createBroker({
      configPath: join(dir, 'limited.yml'),
      dataDir: join(dir, 'data-limited'),
      log: pino({ level: 'silent' }),
    });
    try {
      const token = await projectToken('web', ['build', 'cache:read'], false, undefined, limited);
      const login = () =>
        limited.app.request('/v2/token?service=depot-cache&scope=repository:cache/web:pull', {
          headers: { authorization: basic(token) },
        });
      for (let i = 0; i < 3; i++) expect((await login()).status).toBe(200);
      const refused = await login();
      expect(refused.status).toBe(429);
      expect(((await refused.json()) as { error: { code: string; message: string } }).error).toMatchObject({
        code: 'rate_limited',
        message: expect.stringMatching(/^too many registry logins from this address: retry in \d+s$/),
      });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });
});

describe('registry tokens follow the config in force', () => {
  const CACHE = ['repository:cache/web:pull,push', 'repository:builds/web:pull,push'];

  async function withConfig(text: string, fn: () => Promise<void>): Promise<void> {
    writeFileSync(join(dir, 'broker.yml'), text);
    expect(b.reload()).toBe(true);
    try {
      await fn();
    } finally {
      writeFileSync(join(dir, 'broker.yml'), CONFIG);
      expect(b.reload()).toBe(true);
    }
  }

  it('a reload that changes the store is refused: the store in force, and /readyz, stay as they were', async () => {
    const ready = async () =>
      ((await (await b.app.request('/readyz')).json()) as { configDigest: string }).configDigest;
    const before = await ready();
    const seen = logs.length;
    writeFileSync(join(dir, 'broker.yml'), `${CONFIG}store:\n  postgres: { url_env: BROKER_DATABASE_URL }\n`);
    try {
      expect(b.reload()).toBe(false);
      expect(b.deps.config().store).toEqual({ engine: 'sqlite' });
      expect(await ready()).toBe(before);
      const rejected = logs
        .slice(seen)
        .map((l) => JSON.parse(l) as { event?: string; problems?: string[] })
        .find((l) => l.event === 'config_rejected');
      expect(rejected?.problems).toEqual([
        'store: changed from sqlite to postgres with url_env BROKER_DATABASE_URL: the store is chosen at start, restart the broker to change it',
      ]);
    } finally {
      writeFileSync(join(dir, 'broker.yml'), CONFIG);
      expect(b.reload()).toBe(true);
    }
    expect(await ready()).toBe(before);
  });

  it('a rule made isolated grants no cache to the tokens it already minted', async () => {
    const token = await projectToken('web', ['build', 'cache:read', 'cache:write']);
    expect(await access(token, CACHE)).toEqual({
      'cache/web': ['pull', 'push'],
      'builds/web': ['pull', 'push'],
    });
    await withConfig(
      CONFIG.replace('repository_id: "1" }', 'repository_id: "1", isolated: true }'),
      async () => {
        expect(await access(token, CACHE)).toEqual({ 'cache/web': [], 'builds/web': [] });
      },
    );
  });

  it('a rule cut to cache:read stops the pushes of tokens minted with cache:write', async () => {
    const token = await projectToken('web', ['build', 'cache:read', 'cache:write']);
    await withConfig(
      CONFIG.replace('repository_id: "1" }', 'repository_id: "1", grants: [build, "cache:read"] }'),
      async () => {
        expect(await access(token, CACHE)).toEqual({ 'cache/web': ['pull'], 'builds/web': ['pull'] });
      },
    );
  });

  it('a removed rule or project grants nothing: 401 naming why', async () => {
    const token = await projectToken('web', ['build', 'cache:read']);
    await withConfig(CONFIG.replace('id: web-main', 'id: web-renamed'), async () => {
      const r = await ask(token, CACHE);
      expect([r.status, r.body.error?.code]).toEqual([401, 'unauthorized']);
      expect(r.text).toContain('no longer in the broker config');
    });
  });
});

describe('revocation', () => {
  it('by jti, rule or project: /v2/token answers 401 token_revoked; later tokens of a rule are spared', async () => {
    const first = await projectToken('api', ['build', 'cache:read']);
    const { jti } = decodeJwt(first);
    await b.deps.state.revoke('jti', String(jti), undefined);
    await new Promise((r) => setTimeout(r, REVOCATION_POLL_MS + 50));
    const r = await ask(first, ['repository:cache/api-layers:pull']);
    expect([r.status, r.body.error?.code]).toEqual([401, 'token_revoked']);

    const before = await projectToken('web', ['build', 'cache:read']);
    const cut = Math.floor(Date.now() / 1000) + 1;
    await b.deps.state.revoke('rule', 'web-main', cut);
    await new Promise((r) => setTimeout(r, Math.max(REVOCATION_POLL_MS, 1100) + 50));
    const after = await projectToken('web', ['build', 'cache:read']);
    expect((await ask(before, ['repository:cache/web:pull'])).body.error?.code).toBe('token_revoked');
    expect((await ask(after, ['repository:cache/web:pull'])).status).toBe(200);
  });
});

describe('the audit of /v2/token', () => {
  it('records grants and refusals with the request id, client, scopes asked and granted, and the token jti', async () => {
    const token = await projectToken('web', ['build', 'cache:read']);
    const res = await b.app.request(
      `/v2/token?service=depot-cache&scope=${encodeURIComponent('repository:cache/web:pull,push')}`,
      { headers: { authorization: basic(token) } },
    );
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id') ?? '';
    const [row] = await b.deps.state.queryAudit({ requestId: id });
    expect(row).toMatchObject({
      kind: 'registry_token',
      outcome: 'ok',
      project: 'web',
      rule: 'web-main',
      requested: 'repository:cache/web:pull,push',
      granted: 'repository:cache/web:pull',
      tokenJti: String(decodeJwt(token).jti),
    });
    const refused = await b.app.request('/v2/token?service=depot-cache', {
      headers: { authorization: basic('not-a-token') },
    });
    const [bad] = await b.deps.state.queryAudit({ requestId: refused.headers.get('x-request-id') ?? '' });
    expect(bad).toMatchObject({ kind: 'registry_token', outcome: 'unauthorized' });
  });

  it('a login asking for 60 KB of scopes: the row and the log line keep the start of each scope string and say how much went', async () => {
    const token = await projectToken('web', ['build', 'cache:read']);
    // One made-up repository name of 60,000 characters beside a real scope (the form stays under the 64 KiB body limit).
    const scope = `repository:cache/web:pull repository:junk-${'n'.repeat(60_000)}:pull`;
    const res = await b.app.request('/v2/token', {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'password', password: token, service: 'depot-cache', scope }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id') ?? '';
    const [row] = await b.deps.state.queryAudit({ requestId: id });
    const marker = /\u2026\(\+\d{2},\d{3} chars\)$/;
    expect(row?.requested).toMatch(/^repository:cache\/web:pull repository:junk-n+\u2026/);
    expect(row?.requested).toMatch(marker);
    expect(row?.requested).toHaveLength(2_048);
    expect(row?.granted).toMatch(/^repository:cache\/web:pull repository:junk-n+\u2026/);
    expect(row?.granted).toMatch(marker);
    expect(Buffer.byteLength(JSON.stringify(row))).toBeLessThan(6 * 1024);
    const line = logs.filter((l) => l.includes(id));
    expect(line).toHaveLength(1);
    expect(line[0]?.length).toBeLessThan(6 * 1024);
    expect(JSON.parse(line[0] ?? '{}')).toMatchObject({
      event: 'registry_token',
      requested: row?.requested,
      granted: row?.granted,
    });
  });
});
