// The exchange, in-process through app.request(): msw serves the issuer's JWKS (and fails on any other request,
// which proves nothing unlisted was fetched); tokens are real JWTs signed with real keys.
import { randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import type { JWK } from 'jose';
import { delay, http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseExchangeResponse } from '../../shared/contract/exchange';
import { readProjectToken } from '../../shared/contract/project-token';
import type { Broker } from './broker';
import { createBroker } from './broker';
import type { SqliteStore } from './store/sqlite';
import { openSqlite } from './store/sqlite-driver';
import type { JwksOptions } from './verify';
import { logInto } from '../../test/support/log';
import { until } from '../../test/support/wait';
import { ecKeyPair, rsaKeyPair } from '../../test/support/keys';

const ISSUER = 'https://token.actions.example.test';
const JWKS_URI = `${ISSUER}/.well-known/jwks`;
const BROKER = 'https://broker.example.test';
const KID = 'issuer-key-1';

let rsa: { privateKey: KeyObject; publicKey: KeyObject };
let otherRsa: { privateKey: KeyObject; publicKey: KeyObject };
let ec: { privateKey: KeyObject; publicKey: KeyObject };
let jwk: JWK;
let jwksFetches = 0;
let evilFetches = 0;
let dir: string;
const logs: string[] = [];
const brokers: Broker[] = [];
const tokensSeen: string[] = [];

const server = setupServer(
  http.get(JWKS_URI, () => {
    jwksFetches++;
    return HttpResponse.json({ keys: [jwk] });
  }),
  http.all('https://evil.example.test/*', () => {
    evilFetches++;
    return HttpResponse.json({ keys: [] });
  }),
);

const PROJECTS = `
projects:
  - id: web
    rules:
      - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "123456", ref: refs/heads/main }
      - { id: web-prs, provider: github-actions, repository: acme/web, repository_id: "123456", event_name: [pull_request] }
      - { id: web-deploy, provider: github-actions, repository: acme/web, repository_id: "123456", ref: "refs/heads/release/*", environment: production }
      - { id: web-nopin, provider: github-actions, repository: acme/web, ref: "refs/heads/nopin" }
      - { id: web-reusable, provider: github-actions, repository_owner: acme, repository_owner_id: "1000", job_workflow_ref: "acme/central/.github/workflows/build.yml@refs/heads/main", ref: "refs/heads/**", grants: [build, "cache:read"] }
  - id: kit
    rules:
      - { id: kit-main, provider: github-actions, repository: acme/kit, repository_id: "777", ref: "refs/heads/*" }
  - id: sandbox
    rules:
      - { id: sandbox-all, provider: github-actions, repository: acme/sandbox, repository_id: "555", ref: "refs/heads/**", isolated: true }
  - id: shared-a
    rules:
      - { id: shared-a, provider: github-actions, repository: acme/shared, repository_id: "900", ref: refs/heads/main }
  - id: shared-b
    rules:
      - { id: shared-b, provider: github-actions, repository: acme/shared, repository_id: "900", ref: refs/heads/main }
`;

function configText(extra = ''): string {
  return `public_url: ${BROKER}
token_ttl: 10m
issuers:
  github-actions:
    issuer: ${ISSUER}
    jwks_uri: ${JWKS_URI}
    algorithms: [RS256]
registry: { host: "localhost:5001", service: depot-cache }
rate_limit: { per_address: 0, failures_per_address: 0 }
${extra}${PROJECTS}`;
}

async function broker(
  opts: { jwks?: Partial<JwksOptions>; config?: string; writeDeadlineMs?: number } = {},
): Promise<Broker> {
  const file = join(dir, `broker-${randomUUID()}.yml`);
  writeFileSync(file, opts.config ?? configText());
  const log = logInto(logs);
  const b = await createBroker({
    configPath: file,
    dataDir: join(dir, 'data'),
    log,
    ...(opts.jwks ? { jwks: opts.jwks } : {}),
    ...(opts.writeDeadlineMs !== undefined ? { writeDeadlineMs: opts.writeDeadlineMs } : {}),
  });
  brokers.push(b);
  return b;
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

function baseClaims(): Record<string, unknown> {
  const t = now();
  return {
    iss: ISSUER,
    aud: BROKER,
    sub: 'repo:acme/web:ref:refs/heads/main',
    jti: randomUUID(),
    iat: t,
    nbf: t - 5,
    exp: t + 300,
    repository: 'acme/web',
    repository_id: '123456',
    repository_owner: 'acme',
    repository_owner_id: '1000',
    ref: 'refs/heads/main',
    sha: 'b'.repeat(40),
    event_name: 'push',
    workflow_ref: 'acme/web/.github/workflows/ci.yml@refs/heads/main',
    job_workflow_ref: 'acme/web/.github/workflows/ci.yml@refs/heads/main',
    run_id: '99',
    run_attempt: '1',
  };
}

interface MintOptions {
  alg?: string;
  key?: KeyObject | Uint8Array;
  header?: Record<string, unknown>;
}

async function mint(over: Record<string, unknown> = {}, opts: MintOptions = {}): Promise<string> {
  const claims = { ...baseClaims(), ...over };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  const alg = opts.alg ?? 'RS256';
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg, kid: KID, typ: 'JWT', ...opts.header })
    .sign(opts.key ?? rsa.privateKey);
  tokensSeen.push(token);
  return token;
}

function b64(v: unknown): string {
  return Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
}

interface Reply {
  status: number;
  body: {
    ok: boolean;
    token?: string;
    project?: string;
    isolated?: boolean;
    error?: { code: string; message: string };
  };
  text: string;
  headers: Headers;
}

async function post(b: Broker, body: unknown, provider = 'github-actions'): Promise<Reply> {
  const res = await b.app.request(`/auth/oidc/${provider}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Reply['body'], text, headers: res.headers };
}

async function exchangeToken(b: Broker, token: string, project?: string): Promise<Reply> {
  return post(b, project === undefined ? { token } : { token, project });
}

beforeAll(async () => {
  rsa = rsaKeyPair(2048);
  otherRsa = rsaKeyPair(2048);
  ec = ecKeyPair();
  jwk = { ...(rsa.publicKey.export({ format: 'jwk' }) as JWK), kid: KID, alg: 'RS256', use: 'sig' };
  dir = mkdtempSync(join(tmpdir(), 'broker-exchange-'));
  server.listen({ onUnhandledRequest: 'error' });
});

afterEach(() => server.resetHandlers());

afterAll(async () => {
  server.close();
  for (const b of brokers) await b.close();
  rmSync(dir, { recursive: true, force: true });
  // No token, CI or minted, ever reached a log line.
  const all = logs.join('');
  expect(all.length).toBeGreaterThan(0);
  // (A failed exchange pushes '' for its missing token: its own test has failed already, and '' is in every text.)
  for (const t of tokensSeen.filter(Boolean)) {
    expect(all).not.toContain(t);
    const sig = t.split('.')[2];
    if (sig && sig.length > 16) expect(all).not.toContain(sig);
  }
});

type Case = {
  name: string;
  token: () => Promise<string>;
  status: number;
  code: string;
  message?: RegExp;
};

const cases: Case[] = [
  // Algorithms and signatures
  {
    name: 'alg none',
    token: async () => `${b64({ alg: 'none', kid: KID })}.${b64(baseClaims())}.`,
    status: 401,
    code: 'bad_alg',
  },
  {
    name: 'alg NONE (upper case)',
    token: async () => `${b64({ alg: 'NONE', kid: KID })}.${b64(baseClaims())}.`,
    status: 401,
    code: 'bad_alg',
  },
  {
    name: 'alg nOnE (mixed case) with a signature',
    token: async () => `${b64({ alg: 'nOnE', kid: KID })}.${b64(baseClaims())}.c2ln`,
    status: 401,
    code: 'bad_alg',
  },
  {
    name: 'RS256 header with an empty signature',
    token: async () => `${b64({ alg: 'RS256', kid: KID })}.${b64(baseClaims())}.`,
    status: 401,
    code: 'bad_signature',
  },
  {
    name: 'HS256 signed with the issuer public key',
    token: () =>
      mint(
        {},
        {
          alg: 'HS256',
          key: new TextEncoder().encode(rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()),
        },
      ),
    status: 401,
    code: 'bad_alg',
  },
  {
    name: 'RS512 where RS256 is configured',
    token: () => mint({}, { alg: 'RS512' }),
    status: 401,
    code: 'bad_alg',
  },
  {
    name: 'PS256 where RS256 is configured',
    token: () => mint({}, { alg: 'PS256' }),
    status: 401,
    code: 'bad_alg',
  },
  {
    name: 'ES256 where RS256 is configured',
    token: () => mint({}, { alg: 'ES256', key: ec.privateKey }),
    status: 401,
    code: 'bad_alg',
  },
  {
    name: 'right kid, wrong key',
    token: () => mint({}, { key: otherRsa.privateKey }),
    status: 401,
    code: 'bad_signature',
  },
  {
    name: 'a flipped payload bit',
    token: async () => {
      const [h, , s] = (await mint()).split('.');
      return `${h}.${b64({ ...baseClaims(), repository: 'acme/wec' })}.${s}`;
    },
    status: 401,
    code: 'bad_signature',
  },
  {
    name: 'jku, x5u and embedded jwk headers are ignored (signed by an attacker key)',
    token: () =>
      mint(
        {},
        {
          key: otherRsa.privateKey,
          header: {
            jku: 'https://evil.example.test/jwks',
            x5u: 'https://evil.example.test/cert.pem',
            jwk: otherRsa.publicKey.export({ format: 'jwk' }),
          },
        },
      ),
    status: 401,
    code: 'bad_signature',
  },
  // Issuer
  {
    name: 'an unlisted iss',
    token: () => mint({ iss: 'https://evil.example.test' }),
    status: 401,
    code: 'bad_issuer',
  },
  {
    name: 'the listed iss with a trailing slash',
    token: () => mint({ iss: `${ISSUER}/` }),
    status: 401,
    code: 'bad_issuer',
  },
  {
    name: 'the listed iss with an upper-case host',
    token: () => mint({ iss: 'https://TOKEN.actions.example.test' }),
    status: 401,
    code: 'bad_issuer',
  },
  {
    name: 'the listed iss over http',
    token: () => mint({ iss: 'http://token.actions.example.test' }),
    status: 401,
    code: 'bad_issuer',
  },
  {
    name: 'a suffix domain of the listed iss',
    token: () => mint({ iss: 'https://token.actions.example.test.evil.example.test' }),
    status: 401,
    code: 'bad_issuer',
  },
  { name: 'iss as an array', token: () => mint({ iss: [ISSUER] }), status: 401, code: 'bad_claim_type' },
  // Audience
  { name: 'aud missing', token: () => mint({ aud: undefined }), status: 401, code: 'missing_claim' },
  {
    name: 'aud wrong',
    token: () => mint({ aud: 'https://other.example.test' }),
    status: 401,
    code: 'bad_audience',
  },
  {
    name: 'aud an array without ours',
    token: () => mint({ aud: ['https://a.example.test', `${BROKER}/`] }),
    status: 401,
    code: 'bad_audience',
  },
  // Times
  { name: 'expired', token: () => mint({ exp: now() - 120 }), status: 401, code: 'expired' },
  { name: 'nbf in the future', token: () => mint({ nbf: now() + 300 }), status: 401, code: 'not_yet_valid' },
  { name: 'iat in the future', token: () => mint({ iat: now() + 300 }), status: 401, code: 'not_yet_valid' },
  {
    name: 'issued too long ago',
    token: () => mint({ iat: now() - 3600, exp: now() + 60 }),
    status: 401,
    code: 'token_too_old',
  },
  { name: 'exp missing', token: () => mint({ exp: undefined }), status: 401, code: 'missing_claim' },
  { name: 'jti missing', token: () => mint({ jti: undefined }), status: 401, code: 'missing_claim' },
  {
    name: 'exp as a string',
    token: () => mint({ exp: String(now() + 300) }),
    status: 401,
    code: 'bad_claim_type',
  },
  // Claim types: no coercion
  {
    name: 'repository as an array',
    token: () => mint({ repository: ['acme/web'] }),
    status: 401,
    code: 'bad_claim_type',
  },
  {
    name: 'repository_id as a number',
    token: () => mint({ repository_id: 123456 }),
    status: 401,
    code: 'bad_claim_type',
  },
  {
    name: 'ref as an object',
    token: () => mint({ ref: { v: 'refs/heads/main' } }),
    status: 401,
    code: 'bad_claim_type',
  },
  { name: 'event_name null', token: () => mint({ event_name: null }), status: 401, code: 'bad_claim_type' },
  { name: 'jti as a number', token: () => mint({ jti: 42 }), status: 401, code: 'bad_claim_type' },
  // Garbage
  { name: 'garbage', token: async () => 'this is not a token', status: 401, code: 'malformed_token' },
  {
    name: 'two parts',
    token: async () => (await mint()).split('.').slice(0, 2).join('.'),
    status: 401,
    code: 'malformed_token',
  },
  {
    name: 'truncated in the signature',
    token: async () => (await mint()).slice(0, -20),
    status: 401,
    code: 'bad_signature',
  },
  {
    name: 'payload not JSON',
    token: async () => `${b64({ alg: 'RS256', kid: KID })}.${b64('{nope')}.c2ln`,
    status: 401,
    code: 'malformed_token',
  },
  // Trust relationships
  {
    name: 'repository matching but repository_id not (a re-created repository)',
    token: () => mint({ repository_id: '999999' }),
    status: 403,
    code: 'no_trust_relationship',
    message: /^no trust relationship accepts this token/,
  },
  {
    name: 'a unicode look-alike owner (Cyrillic a)',
    token: () => mint({ repository: '\u0430cme/web' }),
    status: 403,
    code: 'no_trust_relationship',
  },
  {
    name: 'a trailing space in the name',
    token: () => mint({ repository: 'acme/web ' }),
    status: 403,
    code: 'no_trust_relationship',
  },
  {
    name: 'the Kelvin sign, which lower-cases to k',
    token: () => mint({ repository: 'acme/\u212Ait', repository_id: '777' }),
    status: 403,
    code: 'no_trust_relationship',
  },
  {
    name: 'refs/heads/main-evil',
    token: () => mint({ ref: 'refs/heads/main-evil' }),
    status: 403,
    code: 'no_trust_relationship',
  },
  {
    name: 'refs/heads/main/x',
    token: () => mint({ ref: 'refs/heads/main/x' }),
    status: 403,
    code: 'no_trust_relationship',
  },
  {
    name: 'refs/heads/* does not cover refs/pull/12/merge',
    token: () => mint({ repository: 'acme/kit', repository_id: '777', ref: 'refs/pull/12/merge' }),
    status: 403,
    code: 'no_trust_relationship',
    message: /wants ref "refs\/heads\/\*" but the token has "refs\/pull\/12\/merge"/,
  },
  {
    name: 'refs/heads/* does not cross a slash',
    token: () => mint({ repository: 'acme/kit', repository_id: '777', ref: 'refs/heads/feature/x' }),
    status: 403,
    code: 'no_trust_relationship',
  },
  {
    name: 'environment in another case',
    token: () => mint({ ref: 'refs/heads/release/1', environment: 'Production' }),
    status: 403,
    code: 'no_trust_relationship',
    message: /environment/,
  },
  {
    name: 'environment with a trailing space',
    token: () => mint({ ref: 'refs/heads/release/1', environment: 'production ' }),
    status: 403,
    code: 'no_trust_relationship',
  },
  {
    name: 'pull_request_target on the main ref, no rule listing it',
    token: () => mint({ event_name: 'pull_request_target' }),
    status: 403,
    code: 'event_not_allowed',
    message: /pull_request_target/,
  },
  {
    name: 'workflow_run on the main ref, no rule listing it',
    token: () => mint({ event_name: 'workflow_run' }),
    status: 403,
    code: 'event_not_allowed',
  },
  {
    name: 'two matching projects and none named',
    token: () => mint({ repository: 'acme/shared', repository_id: '900' }),
    status: 409,
    code: 'ambiguous_project',
    message: /shared-a, shared-b/,
  },
  {
    name: 'a reusable workflow rule with another central workflow',
    token: () =>
      mint({
        repository: 'acme/api',
        repository_id: '31',
        job_workflow_ref: 'acme/central/.github/workflows/evil.yml@refs/heads/main',
      }),
    status: 403,
    code: 'no_trust_relationship',
  },
];

describe('POST /auth/oidc/github-actions refuses', () => {
  let b: Broker;
  beforeAll(async () => {
    b = await broker();
  });

  it.each(cases)('$name -> $status $code', async (c) => {
    const token = await c.token();
    const fetchesBefore = jwksFetches;
    const r = await exchangeToken(b, token);
    expect(r.status).toBe(c.status);
    expect(r.body.ok).toBe(false);
    expect(r.body.error?.code).toBe(c.code);
    if (c.message) expect(r.body.error?.message).toMatch(c.message);
    expect(r.text).not.toContain(token);
    if (c.code === 'bad_issuer') expect(jwksFetches).toBe(fetchesBefore);
    expect(evilFetches).toBe(0);
  });

  it('tells an outsider the same thing whatever was wrong, with a request id, and the operator everything', async () => {
    const outsider = {
      repository: 'evil/web',
      repository_id: '666',
      sub: 'repo:evil/web:ref:refs/heads/main',
    };
    const answers = [
      await exchangeToken(b, await mint(outsider), 'nope'), // an unknown project
      await exchangeToken(b, await mint(outsider)), // a wrong repository
      await exchangeToken(b, await mint({ ...outsider, event_name: 'pull_request_target' })), // an event
      await exchangeToken(b, await mint({ ...outsider, ref: 'refs/heads/dev' })), // a wrong ref
      await exchangeToken(b, await mint({ repository_id: '666' })), // the right name, another repository id
      await exchangeToken(b, await mint(), 'nope'), // an owner of web, naming a project that does not exist
      await exchangeToken(b, await mint(), 'kit'), // an owner of web, naming a project it does not own
    ];
    for (const r of answers) {
      expect([r.status, r.body.error?.code, r.body.error?.message]).toEqual([
        403,
        'no_trust_relationship',
        'no trust relationship accepts this token: give the broker operator the request id of this answer',
      ]);
      const id = (r.body.error as { requestId?: string } | undefined)?.requestId ?? '';
      expect(id).toMatch(/^[0-9a-f]{16}$/);
      expect(r.headers.get('x-request-id')).toBe(id);
    }
    const ids = answers.map((r) => (r.body.error as { requestId?: string }).requestId);
    expect(new Set(ids).size).toBe(answers.length);
    // The operator finds the reason under the request id.
    const [row] = await b.deps.state.queryAudit({ requestId: ids[3] ?? '' });
    expect(row).toMatchObject({ outcome: 'no_trust_relationship', kind: 'exchange', repository: 'evil/web' });
    expect(row?.message).toMatch(
      /for repository "evil\/web", ref "refs\/heads\/dev", event "push": the closest rule, \S+ \(project \S+, .*\.yml:\d+\), wants/,
    );
    const [unknown] = await b.deps.state.queryAudit({ requestId: ids[0] ?? '' });
    expect(unknown?.message).toMatch(/project "nope" is not configured in .*\.yml/);
  });

  it("tells an owner which field of which rule failed, never the config file's path", async () => {
    const r = await exchangeToken(b, await mint({ ref: 'refs/heads/dev' }));
    expect([r.status, r.body.error?.code]).toEqual([403, 'no_trust_relationship']);
    expect(r.body.error?.message).toBe(
      'rule web-main (project web) wants ref "refs/heads/main" but the token has "refs/heads/dev"',
    );
    expect(r.text).not.toMatch(/\.yml|\/tmp\//);
  });

  it('a project the rules do not cover, named in the request', async () => {
    const r = await exchangeToken(b, await mint(), 'kit');
    expect([r.status, r.body.error?.code]).toEqual([403, 'no_trust_relationship']);
    const unknown = await exchangeToken(b, await mint(), 'nope');
    expect([unknown.status, unknown.body.error?.code]).toEqual([403, 'no_trust_relationship']);
  });

  it('extra body fields trying to set isolation, scope or lifetime', async () => {
    for (const extra of [
      { isolated: false },
      { scope: 'build cache:read cache:write' },
      { ttl: '24h' },
      { expiresAt: 'x' },
    ]) {
      const token = await mint({ repository: 'acme/sandbox', repository_id: '555' });
      const r = await post(b, { token, ...extra });
      expect([r.status, r.body.error?.code]).toEqual([400, 'malformed_request']);
      expect(r.text).not.toContain(token);
    }
  });

  it('a token over 8 KiB, and a body over 64 KiB', async () => {
    const big = await mint({ padding: 'x'.repeat(9000) });
    expect((await exchangeToken(b, big)).body.error?.code).toBe('token_too_large');
    expect((await exchangeToken(b, big)).status).toBe(413);
    const huge = await post(b, { token: 'x', oversizedMarker: 'y'.repeat(70 * 1024) });
    expect([huge.status, huge.body.error?.code]).toEqual([413, 'token_too_large']);
    // Refused before exchange() ran (which would record malformed_request for the unknown field).
    expect((await b.deps.state.queryAudit({})).filter((row) => row.field === 'oversizedMarker')).toEqual([]);
    const small = await post(b, { token: 'x', oversizedMarker: 'y' });
    expect(small.body.error?.code).toBe('malformed_request');
    expect((await b.deps.state.queryAudit({})).filter((row) => row.field === 'oversizedMarker')).toHaveLength(
      1,
    );
  });

  it('malformed requests', async () => {
    for (const body of ['not json', '[]', '{}', '{"token": 5}', '{"token": "a.b.c", "project": 3}']) {
      const r = await post(b, body);
      expect([r.status, r.body.error?.code]).toEqual([400, 'malformed_request']);
    }
  });

  it('a project that is no project id: 400 saying what a project id is, before the token is spent', async () => {
    const token = await mint();
    const r = await exchangeToken(b, token, 'Acme Web');
    expect([r.status, r.body.error?.code]).toEqual([400, 'malformed_request']);
    expect(r.body.error?.message).toBe(
      '"project" "Acme Web" is not a project id (lowercase letters and digits, separated by single . _ or -): use the id the broker config gives the project, or leave "project" out',
    );
    const long = await exchangeToken(b, token, `${'A'.repeat(56 * 1024)}`);
    expect([long.status, long.body.error?.code]).toEqual([400, 'malformed_request']);
    expect(long.body.error?.message).toContain(`"${'A'.repeat(40)}" (57344 characters) is not a project id`);
    expect(r.text + long.text).not.toContain(token);
    // Refused before verification: the token is still unused.
    expect((await exchangeToken(b, token)).status).toBe(200);
  });

  it('a 56 KB project id, refused and then replayed: each audit row and log line keeps its start and says how much went', async () => {
    const project = 'a'.repeat(56 * 1024);
    const token = await mint();
    // Verified both times, so audited both times: first no such project (whose detail repeats it), then replayed.
    const answers = [await exchangeToken(b, token, project), await exchangeToken(b, token, project)];
    expect(answers.map((r) => [r.status, r.body.error?.code])).toEqual([
      [403, 'no_trust_relationship'],
      [401, 'replayed'],
    ]);
    for (const r of answers) {
      const id = r.headers.get('x-request-id') ?? '';
      const [row] = await b.deps.state.queryAudit({ requestId: id });
      expect(row?.project).toBe(`${'a'.repeat(240)}\u2026(+57,104 chars)`);
      expect(row?.message?.length).toBeLessThanOrEqual(1024);
      expect(Buffer.byteLength(JSON.stringify(row))).toBeLessThan(3 * 1024);
      const line = logs.filter((l) => l.includes(id));
      expect(line).toHaveLength(1);
      expect(line[0]?.length).toBeLessThan(3 * 1024);
      expect(line[0]).toContain(`"project":"${'a'.repeat(240)}\u2026(+57,104 chars)"`);
    }
    const [refused] = await b.deps.state.queryAudit({
      requestId: answers[0]?.headers.get('x-request-id') ?? '',
    });
    expect(refused?.message).toMatch(/^project "a{100,}.*\u2026\(\+5\d,\d{3} chars\)$/);
  });

  it('the same token twice, and twice concurrently: exactly one succeeds', async () => {
    const once = await mint();
    expect((await exchangeToken(b, once)).status).toBe(200);
    const again = await exchangeToken(b, once);
    expect([again.status, again.body.error?.code]).toEqual([401, 'replayed']);

    const twice = await mint();
    const results = await Promise.all([
      exchangeToken(b, twice),
      exchangeToken(b, twice),
      exchangeToken(b, twice),
    ]);
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.body.error?.code === 'replayed')).toHaveLength(2);
  });

  it('a project token posted where a CI token is expected', async () => {
    const ok = await exchangeToken(b, await mint());
    expect(ok.status).toBe(200);
    const r = await exchangeToken(b, ok.body.token ?? '');
    expect([r.status, r.body.error?.code]).toEqual([401, 'bad_issuer']);
  });

  it('a provider this broker does not implement, and the fork-PR paths', async () => {
    for (const p of ['jenkins', 'public', 'nope']) {
      const r = await post(b, { token: await mint() }, p);
      expect([r.status, r.body.error?.code]).toEqual([404, 'not_found']);
    }
  });

  it("a GitHub token posted to another provider's path", async () => {
    for (const p of ['circleci', 'gitlab', 'buildkite']) {
      const r = await post(b, { token: await mint() }, p);
      expect([r.status, r.body.error?.code]).toEqual([401, 'bad_issuer']);
      expect(r.body.error?.message).toMatch(/\/auth\/oidc\/github-actions/);
    }
  });
});

describe('POST /auth/oidc/github-actions accepts and mints', () => {
  let b: Broker;
  beforeAll(async () => {
    b = await broker();
  });

  async function minted(over: Record<string, unknown>, project?: string) {
    const r = await exchangeToken(b, await mint(over), project);
    expect(r.status, r.text).toBe(200);
    tokensSeen.push(r.body.token ?? '');
    const jwks = await (await b.app.request('/.well-known/jwks.json')).json();
    const { payload, protectedHeader } = await jwtVerify(
      r.body.token ?? '',
      createLocalJWKSet(jwks as { keys: JWK[] }),
      {
        issuer: BROKER,
        audience: `${BROKER}/project`,
        algorithms: ['ES256'],
        typ: 'depot-project+jwt',
      },
    );
    return { reply: r, payload, protectedHeader };
  }

  it('a push to main: full scope, the cache claim, the rule and the source identity', async () => {
    const { reply, payload, protectedHeader } = await minted({});
    expect(reply.body).toMatchObject({ ok: true, project: 'web', isolated: false });
    expect(protectedHeader.kid).toBeTruthy();
    expect(payload).toMatchObject({
      sub: 'project:web',
      project: 'web',
      isolated: false,
      scope: 'build cache:read cache:write',
      cache: 'localhost:5001/cache/web',
      rule: 'web-main',
      provider: 'github-actions',
      repository: 'acme/web',
      repository_id: '123456',
      ref: 'refs/heads/main',
      run_id: '99',
      event_name: 'push',
    });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(600);
    expect(typeof payload.jti).toBe('string');
  });

  it('expired by less than the 60 s skew is still accepted', async () => {
    await minted({ exp: now() - 59 });
  });

  it('ASCII case differences in the repository name match', async () => {
    const { payload } = await minted({ repository: 'ACME/Web' });
    expect(payload.project).toBe('web');
  });

  it('a pull_request token gets build and cache:read only', async () => {
    const { payload } = await minted({ event_name: 'pull_request', ref: 'refs/pull/3/merge' });
    expect(payload.scope).toBe('build cache:read');
    expect(payload.rule).toBe('web-prs');
  });

  it('a rule without repository_id never grants cache:write', async () => {
    const { payload } = await minted({ ref: 'refs/heads/nopin' });
    expect(payload.scope).toBe('build cache:read');
  });

  it('an isolated rule: scope build, no cache claim', async () => {
    const { reply, payload } = await minted({ repository: 'acme/sandbox', repository_id: '555' });
    expect(reply.body.isolated).toBe(true);
    expect(payload.scope).toBe('build');
    expect(payload.cache).toBeUndefined();
  });

  it('environment, reusable workflow globs and a named project', async () => {
    expect((await minted({ ref: 'refs/heads/release/2', environment: 'production' })).payload.rule).toBe(
      'web-deploy',
    );
    const reusable = await minted({
      repository: 'acme/api',
      repository_id: '31',
      ref: 'refs/heads/feature/deep/x',
      job_workflow_ref: 'acme/central/.github/workflows/build.yml@refs/heads/main',
    });
    expect(reusable.payload.rule).toBe('web-reusable');
    expect(reusable.payload.scope).toBe('build cache:read');
    const named = await minted({ repository: 'acme/shared', repository_id: '900' }, 'shared-b');
    expect(named.payload.project).toBe('shared-b');
  });

  it('records one audit decision per exchange with the token hash, never the token', async () => {
    const { reply } = await minted({ run_id: 'audit-run' });
    const rows = (await b.deps.state.queryAudit({ repository: 'acme/web' })).filter(
      (r) => r.runId === 'audit-run',
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ outcome: 'ok', rule: 'web-main', project: 'web' });
    expect(rows[0]?.tokenSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(rows)).not.toContain(reply.body.token);
    const refused = await exchangeToken(b, await mint({ run_id: 'audit-refused', ref: 'refs/heads/x' }));
    expect(refused.status).toBe(403);
    const r2 = (await b.deps.state.queryAudit({})).filter((r) => r.runId === 'audit-refused');
    expect(r2).toMatchObject([{ outcome: 'no_trust_relationship', field: 'ref' }]);
    // One log line each, with the audit row's fields (the event name as event_name), never its time or the token.
    const lines = logs
      .join('')
      .split('\n')
      .filter((l) => l.includes('"audit-run"') || l.includes('"audit-refused"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toMatchObject([
      {
        event: 'exchange',
        outcome: 'ok',
        msg: 'project token minted',
        repository: 'acme/web',
        event_name: 'push',
        rule: 'web-main',
        tokenSha256: rows[0]?.tokenSha256,
        scope: 'build cache:read cache:write',
        isolated: false,
      },
      { event: 'exchange', outcome: 'no_trust_relationship', field: 'ref', runId: 'audit-refused' },
    ]);
    for (const l of lines) expect(Object.keys(l)).not.toContain('at');
  });

  it('counts exchanges by outcome in /metrics', async () => {
    const text = await (await b.app.request('/metrics')).text();
    expect(text).toMatch(/broker_exchanges_total\{provider="github-actions",outcome="ok"\} [1-9]/);
    expect(text).toMatch(/broker_jwks_fetches_total\{issuer="github-actions"\} 1\b/);
  });
});

describe('the issuer JWKS', () => {
  it('an unknown kid refetches once; a flood of random kids fetches at most once per cooldown', async () => {
    const b = await broker({ jwks: { cooldownMs: 0 } });
    const before = jwksFetches;
    expect((await exchangeToken(b, await mint())).status).toBe(200);
    expect(jwksFetches).toBe(before + 1);
    const r = await exchangeToken(
      b,
      await mint({}, { header: { kid: 'unknown-kid' }, key: otherRsa.privateKey }),
    );
    expect([r.status, r.body.error?.code]).toEqual([401, 'unknown_key']);
    expect(jwksFetches).toBe(before + 2);

    const cooled = await broker();
    const start = jwksFetches;
    expect((await exchangeToken(cooled, await mint())).status).toBe(200);
    const flood = await Promise.all(
      Array.from({ length: 50 }, async () =>
        exchangeToken(cooled, await mint({}, { header: { kid: randomUUID() }, key: otherRsa.privateKey })),
      ),
    );
    expect(flood.every((f) => f.body.error?.code === 'unknown_key')).toBe(true);
    expect(jwksFetches - start).toBe(1);
  });

  const outages: { name: string; handler: () => Promise<Response> | Response }[] = [
    { name: 'down', handler: () => HttpResponse.error() },
    { name: 'a 500', handler: () => new HttpResponse('oops', { status: 500 }) },
    {
      name: 'never answering',
      handler: async () => {
        await delay('infinite');
        return HttpResponse.json({});
      },
    },
    { name: 'HTML', handler: () => HttpResponse.html('<html><body>login</body></html>') },
    {
      name: '5 MB',
      handler: () => HttpResponse.json({ keys: [jwk], pad: 'x'.repeat(5 * 1024 * 1024) }),
    },
    { name: 'a redirect', handler: () => HttpResponse.redirect('https://evil.example.test/jwks', 302) },
  ];

  it.each(outages)('an endpoint that is $name: 503 jwks_unavailable with Retry-After, no hang', async (o) => {
    server.use(http.get(JWKS_URI, o.handler));
    const b = await broker({ jwks: { timeoutMs: 300 } });
    const r = await exchangeToken(b, await mint());
    expect([r.status, r.body.error?.code]).toEqual([503, 'jwks_unavailable']);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(evilFetches).toBe(0);
  });

  it('a still-fresh cached key set keeps serving while the endpoint is down', async () => {
    const b = await broker();
    expect((await exchangeToken(b, await mint())).status).toBe(200);
    server.use(http.get(JWKS_URI, () => HttpResponse.error()));
    expect((await exchangeToken(b, await mint())).status).toBe(200);
  });
});

describe('rate limits', () => {
  it('a client over its failure budget gets 429 with Retry-After', async () => {
    const b = await broker({
      config: configText().replace('failures_per_address: 0', 'failures_per_address: 3'),
    });
    for (let i = 0; i < 3; i++) expect((await post(b, { token: 'garbage' })).status).toBe(401);
    const r = await exchangeToken(b, await mint({ run_id: 'rate-limited-run' }));
    expect([r.status, r.body.error?.code]).toEqual([429, 'rate_limited']);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    // Refused before exchange() ran: no decision was recorded.
    expect((await b.deps.state.queryAudit({})).filter((row) => row.runId === 'rate-limited-run')).toEqual([]);
  });
});

describe('issuer entries of another provider', () => {
  it('a token from an issuer entry of another provider posted to the github-actions path', async () => {
    const other = 'https://gitlab.example.test';
    const b = await broker({
      config: configText().replace(
        'registry:',
        `  gitlab-acme:\n    provider: gitlab\n    issuer: ${other}\n    jwks_uri: ${other}/jwks\nregistry:`,
      ),
    });
    const r = await exchangeToken(b, await mint({ iss: other }));
    expect([r.status, r.body.error?.code]).toEqual([401, 'bad_issuer']);
    expect(r.body.error?.message).toMatch(/\/auth\/oidc\/gitlab/);
  });
});

describe('project tokens', () => {
  it('carry typ depot-project+jwt and a published kid', async () => {
    const b = await broker();
    const r = await exchangeToken(b, await mint());
    const token = r.body.token ?? '';
    tokensSeen.push(token);
    const header = decodeProtectedHeader(token);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'depot-project+jwt' });
    const jwks = (await (await b.app.request('/.well-known/jwks.json')).json()) as { keys: JWK[] };
    expect(jwks.keys.map((k) => k.kid)).toContain(header.kid);
    expect(decodeJwt(token).aud).toBe(`${BROKER}/project`);
  });

  it('are what the actions and the CLI read: the answer and the token pass the shared contract', async () => {
    const b = await broker();
    const r = await exchangeToken(b, await mint());
    tokensSeen.push(r.body.token ?? '');
    const answer = parseExchangeResponse(r.body);
    if (answer?.ok !== true) throw new Error(`not a contract answer: ${JSON.stringify(r.body.error)}`);
    const t = readProjectToken(decodeProtectedHeader(answer.token), decodeJwt(answer.token));
    expect(t).toMatchObject({ project: answer.project, isolated: answer.isolated, rule: 'web-main' });
    expect(t.expiresAt.toISOString()).toBe(answer.expiresAt);
    expect(t.cache).toEqual({ host: 'localhost:5001', repository: 'cache/web' });
  });
});

describe('grants for runs on behalf of other people, and claims the broker does not model', () => {
  const RULES = `
projects:
  - id: web
    rules:
      - { id: writes, provider: github-actions, repository: acme/web, repository_id: "123456", ref: "refs/**", grants: [build, "cache:read", "cache:write"] }
  - id: ops
    rules:
      - { id: ops-prs, provider: github-actions, repository: acme/ops, repository_id: "321", event_name: [pull_request, push], grants: [build, "cache:read", "cache:write"] }
  - id: hosted
    rules:
      - { id: hosted-branches, provider: github-actions, repository: acme/hosted, repository_id: "55", claims: { runner_environment: github-hosted, ref_type: branch, base_ref: "release/*" } }
`;
  const head = configText().slice(0, configText().indexOf('\nprojects:'));
  let b: Broker;
  beforeAll(async () => {
    b = await broker({ config: `${head}\n${RULES}` });
  });

  async function scope(over: Record<string, unknown>): Promise<string | number> {
    const r = await exchangeToken(b, await mint(over));
    if (r.status !== 200) return r.status;
    tokensSeen.push(r.body.token ?? '');
    return String(decodeJwt(r.body.token ?? '').scope);
  }

  it.each([
    'pull_request',
    'pull_request_target',
    'pull_request_review',
    'pull_request_review_comment',
    'workflow_run',
    'issue_comment',
  ])(
    'a %s token never writes under a rule that lists cache:write but does not name the event',
    async (event) => {
      // The rule names no event_name, so only the default events match; the rest are refused outright.
      const got = await scope({ event_name: event, ref: 'refs/pull/3/merge' });
      expect(['build cache:read', 403]).toContain(got);
    },
  );

  it('writes only when its rule names the event and lists cache:write', async () => {
    expect(await scope({ event_name: 'pull_request', ref: 'refs/pull/3/merge' })).toBe('build cache:read');
    expect(
      await scope({
        repository: 'acme/ops',
        repository_id: '321',
        event_name: 'pull_request',
        ref: 'refs/pull/3/merge',
      }),
    ).toBe('build cache:read cache:write');
    expect(await scope({ event_name: 'push' })).toBe('build cache:read cache:write');
  });

  it('claims: pins exact values and globs; an absent or non-string claim never matches', async () => {
    const hosted = { repository: 'acme/hosted', repository_id: '55', base_ref: 'release/1' };
    expect(await scope({ ...hosted, runner_environment: 'github-hosted', ref_type: 'branch' })).toBe(
      'build cache:read cache:write',
    );
    expect(await scope({ ...hosted, runner_environment: 'self-hosted', ref_type: 'branch' })).toBe(403);
    expect(await scope({ ...hosted, ref_type: 'branch' })).toBe(403);
    // GitHub's claims are strings: an array is refused before policy (401 bad_claim_type), never matched.
    expect(await scope({ ...hosted, runner_environment: ['github-hosted'], ref_type: 'branch' })).toBe(401);
    expect(await scope({ ...hosted, runner_environment: 'github-hosted', ref_type: 'tag' })).toBe(403);
    expect(
      await scope({
        ...hosted,
        runner_environment: 'github-hosted',
        ref_type: 'branch',
        base_ref: 'release/1/x',
      }),
    ).toBe(403);
  });

  it('audit rows carry who asked: client, request id, sub, repository id, sha, workflow refs, actor, the minted jti', async () => {
    const res = await b.app.request('/auth/oidc/github-actions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: await mint({ actor: 'octocat', environment: 'prod' }) }),
    });
    const body = (await res.json()) as { token: string };
    tokensSeen.push(body.token);
    const id = res.headers.get('x-request-id') ?? '';
    const [row] = await b.deps.state.queryAudit({ requestId: id });
    expect(row).toMatchObject({
      kind: 'exchange',
      outcome: 'ok',
      requestId: id,
      client: 'in-process',
      sub: 'repo:acme/web:ref:refs/heads/main',
      repositoryId: '123456',
      sha: 'b'.repeat(40),
      workflowRef: 'acme/web/.github/workflows/ci.yml@refs/heads/main',
      jobWorkflowRef: 'acme/web/.github/workflows/ci.yml@refs/heads/main',
      environment: 'prod',
      actor: 'octocat',
      tokenJti: String(decodeJwt(body.token).jti),
    });
  });
});

describe('single use is durable: the jti is committed before the answer', () => {
  /** Another connection holds the state file's write lock (as another process would) until release(). */
  function lockState(): { release(): void } {
    const db = openSqlite(join(dir, 'data', 'state.db'));
    db.exec('BEGIN IMMEDIATE');
    db.exec("INSERT INTO revocation (at, kind, value) VALUES (0, 'jti', 'lock-holder')");
    return {
      release() {
        db.exec('ROLLBACK');
        db.close();
      },
    };
  }

  /** The longest the event loop went without running a timer while `work` ran. */
  async function longestStall<T>(work: Promise<T>): Promise<{ result: T; stallMs: number }> {
    let last = performance.now();
    let stallMs = 0;
    const tick = setInterval(() => {
      const t = performance.now();
      stallMs = Math.max(stallMs, t - last);
      last = t;
    }, 1);
    try {
      return { result: await work, stallMs };
    } finally {
      clearInterval(tick);
    }
  }

  it('a lock released within the deadline: 200, and a replay of the same token is refused', async () => {
    const b = await broker();
    const token = await mint({ jti: randomUUID() });
    const lock = lockState();
    const answer = exchangeToken(b, token);
    await new Promise((r) => setTimeout(r, 300));
    lock.release();
    const r = await answer;
    expect([r.status, r.body.ok]).toEqual([200, true]);
    const replay = await exchangeToken(b, token);
    expect([replay.status, replay.body.error?.code]).toEqual([401, 'replayed']);
  });

  it('held past the deadline: 503 state_unavailable with Retry-After, nothing minted; after release one 200, then replayed', async () => {
    const b = await broker({ writeDeadlineMs: 400 });
    const token = await mint({ jti: randomUUID() });
    const lock = lockState();
    let refused: Reply;
    try {
      const { result, stallMs } = await longestStall(exchangeToken(b, token));
      refused = result;
      // SQLite's busy wait is kept to a few milliseconds: the event loop ran while the lock was held (a busy wait up
      // to the deadline would stall it 400 ms; the margin is for a loaded machine's pauses, not the store's).
      expect(stallMs).toBeLessThan(300);
    } finally {
      lock.release();
    }
    expect([refused.status, refused.body.error?.code]).toEqual([503, 'state_unavailable']);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.text).not.toContain('state.db');
    const again = await exchangeToken(b, token);
    expect([again.status, again.body.ok]).toEqual([200, true]);
    const replay = await exchangeToken(b, token);
    expect([replay.status, replay.body.error?.code]).toEqual([401, 'replayed']);
    // The refused try was audited once the lock was gone, with the store's reason for the operator.
    const rows = (await b.deps.state.queryAudit({})).filter((row) => row.outcome === 'state_unavailable');
    expect(rows.at(-1)?.message).toMatch(/did not commit within 400 ms: the database is locked/);
    // The token signed while the commit was in flight was dropped unsent: neither its audit row nor a log line of
    // that request names a minted token.
    const requestId = (refused.body.error as { requestId?: string } | undefined)?.requestId;
    expect(requestId).toMatch(/^[0-9a-f]{16}$/);
    expect(rows.at(-1)?.tokenJti).toBeUndefined();
    const lines = logs.filter((l) => l.includes(`"requestId":"${String(requestId)}"`));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('')).not.toMatch(/tokenJti|project token minted/);
  });

  it('a disk slow to write: 503 within the deadline, nothing minted, and the same token then gets its one 200', async () => {
    const b = await broker({ writeDeadlineMs: 300 });
    const token = await mint({ jti: randomUUID() });
    // The commit of this exchange's jti sits 800 ms in its transaction, then lands: after the deadline.
    (b.deps.state as SqliteStore).commitWorker.stall(800);
    const t0 = Date.now();
    const refused = await exchangeToken(b, token);
    expect([refused.status, refused.body.error?.code]).toEqual([503, 'state_unavailable']);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(Date.now() - t0).toBeLessThan(750);
    // The late commit is undone: the jti stays unused, as a 503 promises, and is then spent exactly once.
    let again = await exchangeToken(b, token);
    for (let i = 0; again.status === 503 && i < 50; i++) {
      await new Promise((r) => setTimeout(r, 100));
      again = await exchangeToken(b, token);
    }
    expect([again.status, again.body.ok]).toEqual([200, true]);
    const replay = await exchangeToken(b, token);
    expect([replay.status, replay.body.error?.code]).toEqual([401, 'replayed']);
  });

  it('/metrics shows the jtis owed while a failed use cannot be undone (broker_state_owed_jtis), and 0 once it is', async () => {
    const b = await broker({ writeDeadlineMs: 300 });
    const state = b.deps.state as SqliteStore;
    const owed = async () => {
      const text = await (await b.app.request('/metrics')).text();
      return /^broker_state_owed_jtis (\d+)$/m.exec(text)?.[1];
    };
    expect(await owed()).toBe('0');
    const token = await mint({ jti: randomUUID() });
    // The batch commits, then its worker stays silent: the use is answered 503 at the deadline, and once the worker
    // is given up on (the grace) its jti is owed. Another connection holds the write lock from then on, so the new
    // worker cannot delete it.
    state.commitWorker.stall(10_000, true);
    const refused = await exchangeToken(b, token);
    expect([refused.status, refused.body.error?.code]).toEqual([503, 'state_unavailable']);
    const lock = lockState();
    try {
      await until(5_000, () => state.commitWorker.started === 2);
      expect(await owed()).toBe('1');
    } finally {
      lock.release();
    }
    // The next write deletes it first; then the refused token gets its one 200.
    const other = await exchangeToken(b, await mint({ jti: randomUUID() }));
    expect(other.status).toBe(200);
    expect(await owed()).toBe('0');
    const again = await exchangeToken(b, token);
    expect([again.status, again.body.ok]).toEqual([200, true]);
    expect(await (await b.app.request('/metrics')).text()).toMatch(
      /^broker_state_audit_rows_dropped_total 0$/m,
    );
  });

  it('a token the policy refuses is spent all the same: sent again, it is refused as a replay', async () => {
    const b = await broker();
    const token = await mint({ ref: 'refs/heads/dev' });
    const first = await exchangeToken(b, token);
    expect([first.status, first.body.error?.code]).toEqual([403, 'no_trust_relationship']);
    const again = await exchangeToken(b, token);
    expect([again.status, again.body.error?.code]).toEqual([401, 'replayed']);
  });

  it('concurrent tries of one token: exactly one 200, the others replayed', async () => {
    const b = await broker();
    const token = await mint({ jti: randomUUID() });
    const answers = await Promise.all(Array.from({ length: 20 }, () => exchangeToken(b, token)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    expect(new Set(answers.filter((a) => a.status !== 200).map((a) => a.body.error?.code))).toEqual(
      new Set(['replayed']),
    );
  });

  it('/readyz: 503 while the store is locked, 200 with the version and the config digest otherwise; /healthz never waits', async () => {
    const b = await broker();
    const ok = await b.app.request('/readyz');
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { ok: boolean; version: string; configDigest: string };
    expect(body).toEqual({
      ok: true,
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      configDigest: expect.any(String),
    });
    expect(body.configDigest).toMatch(/^[0-9a-f]{64}$/);
    const lock = lockState();
    try {
      const t0 = Date.now();
      const health = await b.app.request('/healthz');
      expect(health.status).toBe(200);
      // Not the store's write deadline (1 s), nor any wait on the lock: the margin is a loaded machine's, not the
      // store's.
      expect(Date.now() - t0).toBeLessThan(500);
      const down = await b.app.request('/readyz');
      expect(down.status).toBe(503);
      expect(((await down.json()) as { error: { code: string } }).error.code).toBe('state_unavailable');
      expect(down.headers.get('retry-after')).toBe('1');
    } finally {
      lock.release();
    }
    expect((await b.app.request('/readyz')).status).toBe(200);
  });

  it('/readyz: requests that come while a probe runs share it (anyone may ask; the probe takes the write lock)', async () => {
    const b = await broker();
    const probes = vi.spyOn(b.deps.state, 'ready');
    const lock = lockState();
    let down: Response[];
    try {
      down = await Promise.all(Array.from({ length: 20 }, () => b.app.request('/readyz')));
    } finally {
      lock.release();
    }
    expect(down.map((r) => r.status)).toEqual(Array<number>(20).fill(503));
    expect(probes).toHaveBeenCalledTimes(1);
    const up = await Promise.all(Array.from({ length: 20 }, () => b.app.request('/readyz')));
    expect(up.map((r) => r.status)).toEqual(Array<number>(20).fill(200));
    expect(probes).toHaveBeenCalledTimes(2);
  });
});
