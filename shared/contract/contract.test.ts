// The contract's readers, fed what the other side really sends: a project token signed the way the broker's mint
// signs it (real ES256 keys), and exchange answers shaped as the broker's app renders them.
import { generateKeyPair, SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { parseExchangeResponse } from './exchange';
import { PROJECT_TOKEN_TYP, ProjectTokenError, readProjectToken } from './project-token';
import type { ProjectTokenClaims } from './project-token';

const keys = generateKeyPair('ES256');

async function sign(claims: Record<string, unknown>, typ = PROJECT_TOKEN_TYP): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ })
    .setIssuer('https://broker.test')
    .setSubject('project:web')
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign((await keys).privateKey);
}

function read(token: string) {
  return readProjectToken(decodeProtectedHeader(token), decodeJwt(token));
}

const minted: ProjectTokenClaims = {
  provider: 'github-actions',
  repository: 'acme/web',
  project: 'web',
  isolated: false,
  scope: 'build cache:read cache:write',
  rule: 'main',
  cache: 'registry.test:5000/cache/web',
};

describe('readProjectToken', () => {
  it('reads what the broker mints', async () => {
    const t = read(await sign({ ...minted }));
    expect(t.project).toBe('web');
    expect(t.isolated).toBe(false);
    expect([...t.scopes]).toEqual(['build', 'cache:read', 'cache:write']);
    expect(t.cache).toEqual({ host: 'registry.test:5000', repository: 'cache/web' });
    expect(t.rule).toBe('main');
    expect(t.subject).toBe('project:web');
    expect(t.issuer).toBe('https://broker.test');
    expect(t.expiresAt.getTime()).toBeGreaterThan(Date.now());
  });

  it('ignores scopes it does not know and opens no cache for an isolated token', async () => {
    const t = read(await sign({ ...minted, isolated: true, scope: 'build cache:read admin' }));
    expect([...t.scopes]).toEqual(['build', 'cache:read']);
    expect(t.cache).toBeUndefined();
  });

  it.each([
    ['typ', { ...minted }, 'JWT', 'its header typ is "JWT", expected "depot-project+jwt"'],
    [
      'project',
      { ...minted, project: 'Web!' },
      PROJECT_TOKEN_TYP,
      'project claim is missing or not a project id',
    ],
    ['project', { ...minted, project: undefined }, PROJECT_TOKEN_TYP, 'project claim is missing'],
    [
      'isolated',
      { ...minted, isolated: 'false' },
      PROJECT_TOKEN_TYP,
      'isolated claim is missing or not true/false',
    ],
    ['scope', { ...minted, scope: undefined }, PROJECT_TOKEN_TYP, 'it has no scope claim'],
    [
      'cache',
      { ...minted, cache: 'nohost' },
      PROJECT_TOKEN_TYP,
      'cache claim is not <registry host>/<repository>',
    ],
    ['cache', { ...minted, cache: 'host/' }, PROJECT_TOKEN_TYP, 'cache claim is not'],
  ])('refuses a token whose %s breaks the contract', async (field, claims, typ, message) => {
    const token = await sign(claims, typ);
    let err: unknown;
    try {
      read(token);
    } catch (e: unknown) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProjectTokenError);
    expect((err as ProjectTokenError).field).toBe(field);
    expect((err as ProjectTokenError).message).toContain(message);
  });

  it('refuses a token with no exp', () => {
    expect(() => readProjectToken({ typ: PROJECT_TOKEN_TYP }, { ...minted })).toThrow('no numeric exp claim');
  });
});

describe('parseExchangeResponse', () => {
  const ok = {
    ok: true,
    token: 't.o.k',
    project: 'web',
    isolated: false,
    expiresAt: '2026-11-30T12:00:00.000Z',
  };

  it('reads a grant and a refusal', () => {
    expect(parseExchangeResponse(ok)).toEqual(ok);
    expect(
      parseExchangeResponse({ ok: false, error: { code: 'replayed', message: 'm', requestId: 'r1' } }),
    ).toEqual({ ok: false, error: { code: 'replayed', message: 'm', requestId: 'r1' } });
    expect(parseExchangeResponse({ ok: false, error: { code: 'internal' } })).toEqual({
      ok: false,
      error: { code: 'internal', message: '' },
    });
  });

  it.each([
    ['not an object', 'html'],
    ['null', null],
    ['an array', [ok]],
    ['a grant without a token', { ...ok, token: '' }],
    ['a grant without a project', { ...ok, project: undefined }],
    ['a grant whose isolated is a string', { ...ok, isolated: 'no' }],
    ['a grant whose expiresAt is no time', { ...ok, expiresAt: 'soon' }],
    ['a refusal without a code', { ok: false, error: { message: 'm' } }],
    ['a body without ok', { token: 't' }],
  ])('does not take %s for an answer', (_what, body) => {
    expect(parseExchangeResponse(body)).toBeUndefined();
  });
});
