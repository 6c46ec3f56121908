// verifyCiToken's two ways to the same answer: jose's jwtVerify for the first token of a key and algorithm, then
// node:crypto on the vetted key with jose's claim checks. Every token here gets the same verdict (claims, or code,
// message and field) from a broker that has vetted the key as from one that has not.
import { randomUUID, sign as cryptoSign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, decodeProtectedHeader, exportJWK, SignJWT } from 'jose';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BrokerConfig, IssuerEntry } from './config';
import { parseConfig } from './config';
import { BrokerError } from './errors';
import { IssuerKeys, peek, verifyCiToken } from './verify';
import { ecKeyPair, rsaKeyPair } from '../../test/support/keys';

const AUD = 'https://broker.example.test';
const PROVIDER = 'github-actions';

let server: Server;
let issuer: string;
let config: BrokerConfig;
const rsa = rsaKeyPair(2048);
const ec = ecKeyPair();
const otherRsa = rsaKeyPair(2048);
const shortRsa = rsaKeyPair(1024);

beforeAll(async () => {
  const keys: JWK[] = [
    { ...(await exportJWK(rsa.publicKey)), kid: 'rsa', use: 'sig' },
    { ...(await exportJWK(ec.publicKey)), kid: 'ec', use: 'sig' },
    { ...(await exportJWK(shortRsa.publicKey)), kid: 'short', use: 'sig' },
  ];
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  config = parseConfig(
    `public_url: ${AUD}
issuers:
  github-actions:
    issuer: ${issuer}
    jwks_uri: ${issuer}/.well-known/jwks
    algorithms: [RS256, PS256, ES256]
registry: { host: "localhost:5001", service: depot-cache }
projects:
  - id: web
    rules:
      - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "123456", ref: refs/heads/main }
`,
    'broker.yml',
  );
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
});

function now(): number {
  return Math.floor(Date.now() / 1000);
}

function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const t = now();
  const c: Record<string, unknown> = {
    iss: issuer,
    aud: AUD,
    sub: 'repo:acme/web:ref:refs/heads/main',
    jti: randomUUID(),
    iat: t,
    nbf: t,
    exp: t + 300,
    repository: 'acme/web',
    repository_id: '123456',
    ref: 'refs/heads/main',
    ...over,
  };
  for (const [k, v] of Object.entries(c)) if (v === undefined) delete c[k];
  return c;
}

const KEYS: Record<string, { kid: string; key: KeyObject }> = {
  RS256: { kid: 'rsa', key: rsa.privateKey },
  PS256: { kid: 'rsa', key: rsa.privateKey },
  ES256: { kid: 'ec', key: ec.privateKey },
};

function sign(
  alg: string,
  over: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
  key?: KeyObject,
): Promise<string> {
  const k = KEYS[alg] ?? { kid: 'rsa', key: rsa.privateKey };
  return new SignJWT(claims(over))
    .setProtectedHeader({ alg, kid: k.kid, typ: 'JWT', ...header })
    .sign(key ?? k.key);
}

/** RS256 by hand, for what jose refuses to sign (a short key, an unknown crit). */
function rawRs256(header: Record<string, unknown>, key: KeyObject): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${b64({ alg: 'RS256', ...header })}.${b64(claims())}`;
  return `${input}.${cryptoSign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

type Verdict = { claims: Record<string, unknown> } | { code: string; message: string; field?: string };

async function verdict(token: string, keys: IssuerKeys): Promise<Verdict> {
  try {
    return { claims: (await verifyCiToken(token, PROVIDER, config, keys)).claims };
  } catch (err: unknown) {
    if (!(err instanceof BrokerError)) throw err;
    return { code: err.code, message: err.message, field: err.field };
  }
}

/** A key set whose keys verified one good token of each algorithm (the fast path is open for them). */
async function vettedKeys(): Promise<IssuerKeys> {
  const keys = new IssuerKeys();
  for (const alg of Object.keys(KEYS)) expect(await verdict(await sign(alg), keys)).toHaveProperty('claims');
  return keys;
}

function entry(): IssuerEntry {
  const e = config.issuers[0];
  if (!e) throw new Error('no issuer');
  return e;
}

describe('verifyCiToken, vetted keys against jose alone', () => {
  it('accepts a good token of each algorithm with the same claims, without WebCrypto once the key is vetted', async () => {
    const vetted = await vettedKeys();
    const subtle = vi.spyOn(crypto.subtle, 'verify');
    try {
      for (const alg of Object.keys(KEYS)) {
        const token = await sign(alg);
        const fresh = await verdict(token, new IssuerKeys());
        subtle.mockClear();
        expect(await verdict(token, vetted)).toEqual(fresh);
        expect(subtle).not.toHaveBeenCalled();
      }
    } finally {
      subtle.mockRestore();
    }
  });

  it('refuses every bad token with the same code, message and field', async () => {
    const vetted = await vettedKeys();
    const t = now();
    const good = await sign('RS256');
    const [h = '', p = '', s = ''] = good.split('.');
    const ecGood = await sign('ES256');
    const [eh = '', ep = '', es = ''] = ecGood.split('.');
    const ecSig = Buffer.from(es, 'base64url');
    const withEcSig = (sig: Buffer) => `${eh}.${ep}.${sig.toString('base64url')}`;
    const flip = (text: string) => `${text.slice(0, -3)}${text.at(-3) === 'A' ? 'B' : 'A'}${text.slice(-2)}`;
    const cases: Record<string, string> = {
      expired: await sign('RS256', { iat: t - 600, nbf: t - 600, exp: t - 120 }),
      'expired, ES256': await sign('ES256', { iat: t - 600, nbf: t - 600, exp: t - 120 }),
      'nbf ahead': await sign('PS256', { nbf: t + 600 }),
      'iat ahead': await sign('RS256', { iat: t + 600 }),
      'too old': await sign('RS256', { iat: t - entry().maxTokenAge - 120, exp: t + 60 }),
      'wrong audience': await sign('RS256', { aud: 'https://other.example.test' }),
      'audience list without ours': await sign('ES256', { aud: ['https://a.example.test', 'b'] }),
      'no jti': await sign('RS256', { jti: undefined }),
      'no sub': await sign('ES256', { sub: undefined }),
      'exp not a number': await sign('RS256', { exp: 'soon' }),
      'a claim of the wrong type': await sign('RS256', { repository: 42 }),
      'signature flipped': `${h}.${p}.${flip(s)}`,
      'payload changed': `${h}.${Buffer.from(JSON.stringify(claims({ ref: 'refs/heads/evil' }))).toString('base64url')}.${s}`,
      'signed by another key under the same kid': await sign('RS256', {}, {}, otherRsa.privateKey),
      'ES256 signed by another key': await sign('ES256', {}, {}, ecKeyPair().privateKey),
      // ES256's r || s goes to node:crypto as DER (ecdsa.ts joseToDer): the lengths and values it must refuse.
      'ES256 signature a byte short': withEcSig(ecSig.subarray(1)),
      'ES256 signature a byte long': withEcSig(Buffer.concat([Buffer.alloc(1), ecSig])),
      'ES256 signature in DER': withEcSig(cryptoSign('sha256', Buffer.from(`${eh}.${ep}`), ec.privateKey)),
      'ES256 signature all zeros': withEcSig(Buffer.alloc(64)),
      'ES256 signature r and s swapped': withEcSig(
        Buffer.concat([ecSig.subarray(32), ecSig.subarray(0, 32)]),
      ),
      'signature with padding': `${good}==`,
      'signature with a space': `${h}.${p}.${s.slice(0, 10)} ${s.slice(10)}`,
      'signature one character too long': `${good}A`,
      'signature truncated': `${h}.${p}.${s.slice(0, -4)}`,
      'empty signature': `${h}.${p}.`,
      'RS384, not allowed': await sign('RS384'),
      none: `${Buffer.from(JSON.stringify({ alg: 'none', kid: 'rsa' })).toString('base64url')}.${p}.`,
      'RS256 header on the EC key': await sign('RS256', {}, { kid: 'ec' }),
      'ES256 header on the RSA key': `${Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'rsa' })).toString('base64url')}.${p}.${s}`,
      'a 1024-bit RSA key': rawRs256({ kid: 'short' }, shortRsa.privateKey),
      'unknown kid': await sign('RS256', {}, { kid: 'nope' }),
      'crit unknown': rawRs256({ kid: 'rsa', crit: ['exp2'], exp2: 1 }, rsa.privateKey),
      'b64 false': `${Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'rsa', b64: false, crit: ['b64'] })).toString('base64url')}.${p}.${s}`,
      'payload not JSON': `${h}.${Buffer.from('not json').toString('base64url')}.${s}`,
    };
    for (const [name, token] of Object.entries(cases)) {
      const fresh = await verdict(token, new IssuerKeys());
      // jose (atob) reads a padded signature, and one with a space, too: whatever it says, the vetted path says.
      if (!name.startsWith('signature with')) expect(fresh, name).not.toHaveProperty('claims');
      expect(await verdict(token, vetted), name).toEqual(fresh);
    }
  });
});

describe('peek, the unverified header and claims read once', () => {
  it("reads what jose's decoders read, and refuses what they refuse", async () => {
    const good = await sign('RS256');
    const [h = '', p = '', s = ''] = good.split('.');
    const part = (v: string | Buffer) => Buffer.from(v).toString('base64url');
    const inputs: Record<string, string> = {
      good,
      'header an array': `${part('[]')}.${p}.${s}`,
      'payload a string': `${h}.${part('"x"')}.${s}`,
      'payload null': `${h}.${part('null')}.${s}`,
      'payload a number': `${h}.${part('7')}.${s}`,
      'payload not JSON': `${h}.${part('{')}.${s}`,
      'payload with invalid UTF-8': `${h}.${part(Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]))}.${s}`,
      'payload with a BOM': `${h}.${part(`\ufeff${JSON.stringify(claims())}`)}.${s}`,
      'payload with __proto__': `${h}.${part('{"__proto__":{"admin":true},"iss":"x"}')}.${s}`,
      'header padded': `${h}==.${p}.${s}`,
      'payload with a space': `${h}.${p.slice(0, 8)} ${p.slice(8)}.${s}`,
      'payload one character over': `${h}.${p}A.${s}`,
      'header in standard base64': `${Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'rsa', x: '>>>?' })).toString('base64')}.${p}.${s}`,
      'two parts': `${h}.${p}`,
      'four parts': `${h}.${p}.${s}.${s}`,
      'five parts': `${h}.${p}.${s}.${s}.${s}`,
      'empty payload': `${h}..${s}`,
      'empty header': `.${p}.${s}`,
    };
    const outcome = (f: () => unknown) => {
      try {
        return { read: f() };
      } catch {
        return 'refused';
      }
    };
    for (const [name, token] of Object.entries(inputs)) {
      const jose = outcome(() => {
        if (token.split('.').length !== 3) throw new Error('not three parts');
        return { header: decodeProtectedHeader(token), payload: decodeJwt(token) };
      });
      expect(
        outcome(() => {
          const { header, payload } = peek(token);
          return { header, payload };
        }),
        name,
      ).toEqual(jose);
    }
    expect(outcome(() => peek(good))).not.toBe('refused');
    // The parts the signature check reuses: only for three strict base64url parts.
    expect(peek(good).compact).toEqual(good.split('.'));
    expect(peek(`${good}==`).compact).toBeUndefined(); // read by jose's decoders, the signature checked by jose
  });
});
