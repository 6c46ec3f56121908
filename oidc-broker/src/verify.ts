// verify: a CI OIDC token -> its verified claims and the issuer entry it belongs to. The issuer is looked up by the
// token's exact `iss` in the configured registry before anything is fetched (never discovered from the token), then
// jose checks signature, algorithm, audience, times, age and required claims, with every option spelled out.
// A key jose has once accepted for an algorithm then checks signatures through node:crypto (see fastVerify): the same
// checks, a third of the CPU, off the event loop (crypto-thread.ts).
import { constants, KeyObject } from 'node:crypto';
import type { webcrypto } from 'node:crypto';
import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
  UnsecuredJWT,
} from 'jose';
import type {
  CompactJWSHeaderParameters,
  JWTPayload,
  JWTVerifyGetKey,
  JWTVerifyOptions,
  ProtectedHeaderParameters,
} from 'jose';
import { PROJECT_TOKEN_TYP } from '../../shared/contract/project-token';
import type { BrokerConfig, IssuerEntry } from './config';
import { cryptoThread } from './crypto-thread';
import { joseToDer } from './ecdsa';
import { BrokerError } from './errors';
import type { Claims, ClaimType } from './providers/types';

export const MAX_TOKEN_BYTES = 8 * 1024;
export const CLOCK_SKEW = 60;

export interface JwksOptions {
  /** Abort a JWKS request after this long (jose's timeoutDuration). */
  timeoutMs: number;
  /** After a successful fetch, an unknown kid triggers no new fetch for this long. */
  cooldownMs: number;
  /** A fetched key set is used without refetching for this long. */
  cacheMaxAgeMs: number;
  /** A JWKS response larger than this is refused. */
  maxBytes: number;
  /** After a failed fetch, no new attempt (and an immediate 503) for this long. */
  failureBackoffMs: number;
}

export const DEFAULT_JWKS_OPTIONS: JwksOptions = {
  timeoutMs: 3000,
  cooldownMs: 30_000,
  cacheMaxAgeMs: 10 * 60_000,
  maxBytes: 256 * 1024,
  failureBackoffMs: 5000,
};

export interface JwksEvents {
  onFetch(issuerKey: string, ok: boolean): void;
}

class JwksFetchError extends Error {}

interface RemoteKeys {
  uri: string;
  getKey: JWTVerifyGetKey;
}

/** The remote key sets of the configured issuers, one per jwks_uri, kept across config reloads. */
export class IssuerKeys {
  private readonly sets = new Map<string, RemoteKeys>();

  constructor(
    private readonly opts: JwksOptions = DEFAULT_JWKS_OPTIONS,
    private readonly events: JwksEvents = { onFetch: () => undefined },
  ) {}

  /** Drops key sets no entry of the new config uses. */
  retain(config: BrokerConfig): void {
    const uris = new Set(config.issuers.map((i) => i.jwksUri));
    for (const uri of this.sets.keys()) if (!uris.has(uri)) this.sets.delete(uri);
  }

  keysFor(entry: IssuerEntry): JWTVerifyGetKey {
    let set = this.sets.get(entry.jwksUri);
    if (!set) {
      set = { uri: entry.jwksUri, getKey: this.create(entry) };
      this.sets.set(entry.jwksUri, set);
    }
    return set.getKey;
  }

  private create(entry: IssuerEntry): JWTVerifyGetKey {
    const { opts, events } = this;
    let failedUntil = 0;
    const cappedFetch = async (
      url: string,
      init: { headers: Headers; method: 'GET'; redirect: 'manual'; signal: AbortSignal },
    ): Promise<Response> => {
      if (Date.now() < failedUntil) throw new JwksFetchError('backing off after a failed fetch');
      try {
        const res = await fetch(url, init);
        if (res.status !== 200) {
          discard(res);
          throw new JwksFetchError(`HTTP ${res.status}`);
        }
        const declared = Number(res.headers.get('content-length') ?? '0');
        if (declared > opts.maxBytes) {
          discard(res);
          throw new JwksFetchError(`response of ${declared} bytes is over the ${opts.maxBytes}-byte cap`);
        }
        const body = await readCapped(res, opts.maxBytes);
        events.onFetch(entry.key, true);
        return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
      } catch (err: unknown) {
        failedUntil = Date.now() + opts.failureBackoffMs;
        events.onFetch(entry.key, false);
        throw err;
      }
    };
    const remote = createRemoteJWKSet(new URL(entry.jwksUri), {
      timeoutDuration: opts.timeoutMs,
      cooldownDuration: opts.cooldownMs,
      cacheMaxAge: opts.cacheMaxAgeMs,
      headers: { accept: 'application/json' },
      [customFetch]: cappedFetch,
    });
    const retryAfter = Math.max(1, Math.ceil(opts.failureBackoffMs / 1000));
    return async (header, token) => {
      try {
        return await remote(header, token);
      } catch (err: unknown) {
        const code = (err as { code?: unknown } | null)?.code;
        if (code === 'ERR_JWKS_NO_MATCHING_KEY' || code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') throw err;
        throw new BrokerError(
          'jwks_unavailable',
          `the signing keys of issuer ${entry.key} cannot be fetched right now: retry in ${retryAfter}s`,
          { retryAfter },
        );
      }
    };
  }
}

/** Drops a response body without waiting for the peer (a stalled peer must not hold the request). */
function discard(res: Response): void {
  res.body?.cancel().catch(() => undefined);
}

async function readCapped(res: Response, max: number): Promise<Uint8Array> {
  const reader = res.body?.getReader();
  if (!reader) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      reader.cancel().catch(() => undefined);
      throw new JwksFetchError(`response is over the ${max}-byte cap`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

export interface Verified {
  entry: IssuerEntry;
  claims: Claims & JWTPayload;
}

function shown(value: string): string {
  return JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}...` : value);
}

/** Verifies a CI OIDC token posted to /auth/oidc/<provider>. */
export async function verifyCiToken(
  token: string,
  provider: string,
  config: BrokerConfig,
  keys: IssuerKeys,
): Promise<Verified> {
  if (token.length > MAX_TOKEN_BYTES) {
    throw new BrokerError('token_too_large', `the token is over ${MAX_TOKEN_BYTES} bytes`);
  }
  // Read iss (unverified) only to pick the issuer entry; nothing is trusted before jwtVerify below.
  let header: ProtectedHeaderParameters;
  let unverified: JWTPayload;
  let compact: Peeked['compact'];
  try {
    ({ header, payload: unverified, compact } = peek(token));
  } catch {
    throw new BrokerError(
      'malformed_token',
      'the token is not a JWT (header.payload.signature, base64url JSON)',
    );
  }
  if (header.typ === PROJECT_TOKEN_TYP) {
    throw new BrokerError(
      'bad_issuer',
      'this is a depot project token, not a CI OIDC token: post the OIDC token your CI issued',
      { field: 'typ' },
    );
  }
  const iss: unknown = unverified.iss;
  if (iss === undefined)
    throw new BrokerError('missing_claim', 'the token has no iss claim', { field: 'iss' });
  if (typeof iss !== 'string') {
    throw new BrokerError('bad_claim_type', 'the iss claim must be a string', { field: 'iss' });
  }
  const entry = config.issuers.find((i) => i.issuer === iss);
  if (!entry) {
    throw new BrokerError('bad_issuer', `issuer ${shown(iss)} is not trusted by this broker`, {
      field: 'iss',
      detail: `issuer ${shown(iss)} is not under issuers in ${config.file}`,
    });
  }
  if (entry.provider.name !== provider) {
    throw new BrokerError(
      'bad_issuer',
      `this issuer's tokens are exchanged at /auth/oidc/${entry.provider.name}, not /auth/oidc/${provider}`,
      { field: 'iss', detail: `issuer entry ${entry.key} is a ${entry.provider.name} issuer` },
    );
  }

  const options: JWTVerifyOptions = {
    issuer: entry.issuer,
    audience: entry.audience,
    algorithms: entry.algorithms,
    clockTolerance: CLOCK_SKEW,
    maxTokenAge: entry.maxTokenAge,
    requiredClaims: entry.requiredClaims,
  };
  let claims: JWTPayload;
  try {
    claims = await verifyJwt(token, compact, header, keys.keysFor(entry), options);
  } catch (err: unknown) {
    throw toBrokerError(err, entry);
  }
  for (const [name, type] of Object.entries(entry.provider.claimTypes)) {
    const v = claims[name];
    if (v !== undefined && !hasType(v, type)) {
      throw new BrokerError(
        'bad_claim_type',
        `the ${name} claim must be ${TYPE_TEXT[type]}, not ${kind(v)}`,
        {
          field: name,
        },
      );
    }
  }
  return { entry, claims };
}

/** Strict, as jose's: bytes that are not UTF-8 are refused, never replaced. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A plain JSON object, as jose requires of a JWT's header and claims. */
function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface Peeked {
  header: ProtectedHeaderParameters;
  payload: JWTPayload;
  /** The three parts, when the token is three strict base64url parts (COMPACT, tested once here). */
  compact?: [string, string, string];
}

/**
 * The unverified header and claims, read once: a token of three strict base64url parts is decoded by Buffer (native,
 * the bytes jose's decoder gives for such parts), anything else by jose's decodeProtectedHeader and decodeJwt, whose
 * refusals stay theirs.
 */
export function peek(token: string): Peeked {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('not three parts');
  const [h = '', p = '', s = ''] = parts;
  if (COMPACT.test(token) && h.length % 4 !== 1 && p.length % 4 !== 1) {
    try {
      const header: unknown = JSON.parse(utf8.decode(Buffer.from(h, 'base64url')));
      const payload: unknown = JSON.parse(utf8.decode(Buffer.from(p, 'base64url')));
      if (isJsonObject(header) && isJsonObject(payload)) return { header, payload, compact: [h, p, s] };
    } catch {
      // jose's decoders below give the verdict
    }
  }
  return { header: decodeProtectedHeader(token), payload: decodeJwt(token) };
}

/** node:crypto's parameters for the JWS algorithms fastVerify checks itself (the same as WebCrypto's in jose). RSA
 * PKCS#1 v1.5 is node:crypto's default for an RSA key and ECDSA's signature goes as DER (joseToDer), so that those
 * keys go bare: on Node 24 an options object around the key costs half a signature more (ecdsa.ts). */
type Scheme =
  | { hash: string; kind: 'pkcs1' }
  | { hash: string; kind: 'pss'; saltLength: number }
  | { hash: string; kind: 'ecdsa'; size: number };

const SCHEMES: Record<string, Scheme> = {
  RS256: { hash: 'sha256', kind: 'pkcs1' },
  RS384: { hash: 'sha384', kind: 'pkcs1' },
  RS512: { hash: 'sha512', kind: 'pkcs1' },
  PS256: { hash: 'sha256', kind: 'pss', saltLength: 32 },
  PS384: { hash: 'sha384', kind: 'pss', saltLength: 48 },
  PS512: { hash: 'sha512', kind: 'pss', saltLength: 64 },
  ES256: { hash: 'sha256', kind: 'ecdsa', size: 32 },
  ES384: { hash: 'sha384', kind: 'ecdsa', size: 48 },
  ES512: { hash: 'sha512', kind: 'ecdsa', size: 66 },
};

/** Whether `signature` is `scheme`'s signature of `data` by `key` (false for one that is malformed), on the crypto
 * thread. */
async function signedBy(scheme: Scheme, key: KeyObject, data: Buffer, signature: Buffer): Promise<boolean> {
  switch (scheme.kind) {
    case 'pkcs1':
      return cryptoThread.verify(scheme.hash, data, key, undefined, signature);
    case 'pss':
      return cryptoThread.verify(
        scheme.hash,
        data,
        key,
        { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength },
        signature,
      );
    case 'ecdsa': {
      const der = joseToDer(signature, scheme.size);
      return der !== undefined && cryptoThread.verify(scheme.hash, data, key, undefined, der);
    }
  }
}

/** Three base64url parts, nothing else (no padding, no whitespace): what jose decodes exactly as Buffer does. */
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** `{"alg":"none"}`: the header of the unsecured JWT that hands the payload to jose's claim checks. */
const NONE_HEADER = Buffer.from('{"alg":"none"}').toString('base64url');

/** Per key (the object the key set returned, kept while the key set keeps it): the algorithms jose accepted it for,
 * with the key as a KeyObject. */
const vetted = new WeakMap<object, Map<string, KeyObject>>();

/**
 * jwtVerify's checks in jwtVerify's order. The first token of a key and algorithm goes through jose's jwtVerify
 * itself (key type, usage, RSA modulus length, signature, claims); after it succeeded, the key is vetted for that
 * algorithm, and later tokens with a plain header (an allowed alg, no crit, no b64) have their signature checked by
 * node:crypto on the cached KeyObject, on the crypto thread (crypto-thread.ts), and their claims by jose's own
 * claim-set validation (through UnsecuredJWT.decode of the same payload, the code jwtVerify runs: iss, aud, exp, nbf,
 * iat, maxTokenAge, required claims). Anything else, and every token whose signature does not verify there, goes
 * through jwtVerify, so a refusal is jose's, word for word.
 */
async function verifyJwt(
  token: string,
  compact: Peeked['compact'],
  header: ProtectedHeaderParameters,
  getKey: JWTVerifyGetKey,
  options: JWTVerifyOptions,
): Promise<JWTPayload> {
  const alg = header.alg;
  const scheme = alg === undefined ? undefined : SCHEMES[alg];
  let resolved: Awaited<ReturnType<JWTVerifyGetKey>> | undefined;
  if (
    scheme &&
    alg !== undefined &&
    options.algorithms?.includes(alg) &&
    header.crit === undefined &&
    header.b64 === undefined &&
    compact
  ) {
    const [h, p, s] = compact;
    // jose resolves the key after the header checks, with the parsed protected header: so does this.
    resolved = await getKey(header as CompactJWSHeaderParameters, { payload: p, protected: h, signature: s });
    const key = typeof resolved === 'object' ? vetted.get(resolved)?.get(alg) : undefined;
    if (key && s.length % 4 !== 1) {
      let good = false;
      try {
        good = await signedBy(scheme, key, Buffer.from(`${h}.${p}`, 'latin1'), Buffer.from(s, 'base64url'));
      } catch {
        good = false;
      }
      if (good) return UnsecuredJWT.decode(`${NONE_HEADER}.${p}.`, options).payload;
    }
  }
  let used: Awaited<ReturnType<JWTVerifyGetKey>> | undefined = resolved;
  const { payload } = await jwtVerify(
    token,
    async (hdr, tok) => (used = resolved ?? (await getKey(hdr, tok))),
    options,
  );
  if (scheme && alg !== undefined && typeof used === 'object' && !vetted.get(used)?.has(alg)) {
    const key = asKeyObject(used);
    if (key) {
      const algs = vetted.get(used) ?? new Map<string, KeyObject>();
      algs.set(alg, key);
      vetted.set(used, algs);
    }
  }
  return payload;
}

function asKeyObject(key: object): KeyObject | undefined {
  if (key instanceof KeyObject) return key;
  try {
    return KeyObject.from(key as webcrypto.CryptoKey); // a TypeError for anything but a CryptoKey
  } catch {
    return undefined;
  }
}

const TYPE_TEXT: Record<ClaimType, string> = {
  string: 'a string',
  'string[]': 'a list of strings',
  boolean: 'true or false',
  number: 'a number',
  'string|null': 'a string or null',
};

function hasType(v: unknown, type: ClaimType): boolean {
  switch (type) {
    case 'string':
      return typeof v === 'string';
    case 'string[]':
      return Array.isArray(v) && v.every((e) => typeof e === 'string');
    case 'boolean':
      return typeof v === 'boolean';
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'string|null':
      return v === null || typeof v === 'string';
    default: {
      const never: never = type;
      throw new Error(`unknown claim type ${String(never)}`);
    }
  }
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function toBrokerError(err: unknown, entry: IssuerEntry): BrokerError {
  if (err instanceof BrokerError) return err;
  const e = err as { code?: unknown; claim?: unknown; reason?: unknown } | null;
  const claim = typeof e?.claim === 'string' ? e.claim : undefined;
  switch (e?.code) {
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return new BrokerError(
        'bad_alg',
        `the token's algorithm is not accepted for issuer ${entry.key} (accepted: ${entry.algorithms.join(', ')})`,
        { field: 'alg' },
      );
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new BrokerError(
        'bad_signature',
        `the token's signature does not verify with issuer ${entry.key}'s key`,
      );
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return new BrokerError('unknown_key', `issuer ${entry.key} publishes no key matching the token's kid`, {
        field: 'kid',
      });
    case 'ERR_JWT_EXPIRED':
      if (claim === 'iat') {
        return new BrokerError(
          'token_too_old',
          `the token was issued more than ${entry.maxTokenAge}s ago: request a fresh one for each exchange`,
          { field: 'iat' },
        );
      }
      return new BrokerError('expired', 'the token has expired: request a fresh one', { field: 'exp' });
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const field = claim ?? 'claims';
      if (e.reason === 'missing') {
        return new BrokerError('missing_claim', `the token has no ${field} claim`, { field });
      }
      if (e.reason === 'invalid') {
        return new BrokerError('bad_claim_type', `the ${field} claim has the wrong type`, { field });
      }
      if (field === 'aud') {
        return new BrokerError(
          'bad_audience',
          `the token's audience is not ${JSON.stringify(entry.audience)}: request the token with that audience`,
          { field },
        );
      }
      if (field === 'iss') return new BrokerError('bad_issuer', 'the token issuer does not match', { field });
      if (field === 'nbf' || field === 'iat') {
        return new BrokerError('not_yet_valid', `the token's ${field} is in the future (check the clocks)`, {
          field,
        });
      }
      return new BrokerError('malformed_token', `the token's ${field} claim is invalid`, { field });
    }
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_GENERIC':
      return new BrokerError('malformed_token', 'the token is not a well-formed signed JWT');
    default:
      if (err instanceof TypeError)
        return new BrokerError('malformed_token', 'the token is not a well-formed JWT');
      return new BrokerError('internal', 'the token could not be verified');
  }
}
