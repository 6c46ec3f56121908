// A local OIDC issuer standing in for GitHub's (https://token.actions.githubusercontent.com), or, started with
// IssuerOptions, for another CI's (CircleCI's https://oidc.circleci.com/org/<org-id>, GitLab's, Buildkite's): a real
// node:http server on a free loopback port that serves discovery and JWKS under the issuer's path, mints tokens of
// that CI's shape (RS256; claim names may hold dots and slashes, values may be numbers, booleans, arrays or null)
// and answers the runner's ACTIONS_ID_TOKEN_REQUEST_URL the way the Actions runtime does. For the stand-ins of the
// other CIs' token tools (standins/circleci, standins/buildkite-agent) it has a mint endpoint, `POST <url>/_mint`
// with `authorization: Bearer <mintToken>` and a JSON body `{"claims"?: {...}, "include"?: ["name", ...]}`, answered
// `{"value": "<token>"}`: the defaults, then `claims` over them, then the named `optional` claims. Every token it
// mints is recorded for the runner harness's leak check (secrets.ts).
import { randomBytes, randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import type { JWK } from 'jose';
import { rsaKeyPair } from './keys';
import { mintedSecret } from './secrets';

/** The claims GitHub puts in an Actions OIDC token (all strings except the times and aud). */
export interface GithubClaims {
  iss: string;
  aud: string | string[];
  sub: string;
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
  repository: string;
  repository_id: string;
  repository_owner: string;
  repository_owner_id: string;
  repository_visibility: string;
  ref: string;
  ref_type: string;
  ref_protected: string;
  sha: string;
  event_name: string;
  workflow: string;
  workflow_ref: string;
  workflow_sha: string;
  job_workflow_ref: string;
  job_workflow_sha: string;
  run_id: string;
  run_number: string;
  run_attempt: string;
  actor: string;
  actor_id: string;
  environment?: string;
  environment_node_id?: string;
  head_ref: string;
  base_ref: string;
  runner_environment: string;
  check_run_id?: string;
  enterprise?: string;
  enterprise_id?: string;
}

/** A JSON claim value: names and values as another CI sets them (`oidc.circleci.com/ssh-rerun: false`). */
export type ClaimValue = string | number | boolean | null | string[] | undefined;

export interface IssuerOptions {
  /** The issuer's path under its origin, e.g. `/org/<uuid>` (CircleCI's shape); default none (GitHub's). */
  path?: string;
  /** The default claims, in place of GitHub's (tests still mutate `defaults` per scenario). */
  defaults?: Record<string, ClaimValue>;
  /** The `sub` of a token minted without one, from its merged claims (default: GitHub's `repo:...`). */
  subject?: (claims: Record<string, unknown>) => string;
  /** Claims a token carries only when the mint endpoint's `include` names them (Buildkite's `--claim`). */
  optional?: Record<string, ClaimValue>;
}

export interface LocalIssuer {
  /**
   * The `iss`: http://127.0.0.1:PORT and the path of IssuerOptions; serves <url>/.well-known/openid-configuration
   * and <url>/.well-known/jwks.
   */
  url: string;
  /** A fresh token (fresh jti, iat now) with the defaults, overridden by `claims`; an `undefined` value drops the claim. */
  mint(claims?: Partial<GithubClaims> & Record<string, unknown>): Promise<string>;
  /** Claims used by mint(), the mint endpoint and the runtime endpoint (tests mutate them per scenario). */
  defaults: Partial<GithubClaims> & Record<string, ClaimValue>;
  /** Claims minted only when the mint endpoint's `include` names them. */
  optional: Record<string, ClaimValue>;
  /** The mint endpoint for the stand-ins' STANDIN_OIDC_URL: POST, `authorization: Bearer <mintToken>`. */
  mintUrl: string;
  /** The bearer token of the mint endpoint (STANDIN_OIDC_AUTH). */
  mintToken: string;
  /** The bodies of the mint endpoint's requests that it answered with a token, in order. */
  mintRequests: Array<{ claims: Record<string, unknown>; include: string[] }>;
  /** The runner's ACTIONS_ID_TOKEN_REQUEST_URL: GET ?api-version=2.0&audience=A with the runtime token. */
  runtimeUrl: string;
  /** The runner's ACTIONS_ID_TOKEN_REQUEST_TOKEN. */
  runtimeToken: string;
  /** How many tokens the runtime endpoint handed out. */
  runtimeRequests: number;
  /** How many times the JWKS was served. */
  jwksRequests: number;
  /** The key id of the signing key. */
  kid: string;
  stop(): Promise<void>;
}

let keyPair: { privateKey: KeyObject; publicJwk: JWK } | undefined;

function sharedKeys() {
  // RSA key generation is slow: one key per process serves every issuer started in it. Both halves come encoded by
  // the generation itself (test/support/keys.ts says why: exporting a freshly generated key can hang Node).
  keyPair ??= rsaKeyPair();
  return keyPair;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `/org/<uuid>` as given, `org/x/` too: a leading slash, no trailing one; '' for none. */
function issuerPath(path: string | undefined): string {
  const trimmed = (path ?? '').replace(/^\/+|\/+$/g, '');
  if (trimmed !== '' && !/^[A-Za-z0-9._~/-]+$/.test(trimmed)) throw new Error(`bad issuer path ${path}`);
  return trimmed === '' ? '' : `/${trimmed}`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

export async function startIssuer(opts: IssuerOptions = {}): Promise<LocalIssuer> {
  const path = issuerPath(opts.path);
  const { privateKey, publicJwk } = sharedKeys();
  const jwk: JWK = { ...publicJwk, alg: 'RS256', use: 'sig' };
  const kid = `local-${randomBytes(6).toString('hex')}`;
  jwk.kid = kid;
  const runtimeToken = randomBytes(24).toString('base64url');
  const mintToken = randomBytes(24).toString('base64url');

  const server = createServer((req, res) => {
    const full = new URL(req.url ?? '/', 'http://issuer');
    // Everything is served under the issuer's path; nothing outside it.
    const under = path === '' || full.pathname.startsWith(`${path}/`);
    const url = new URL(under ? full.pathname.slice(path.length) + full.search : '/-', 'http://issuer');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && url.pathname === '/.well-known/openid-configuration') {
      return json(200, {
        issuer: issuer.url,
        jwks_uri: `${issuer.url}/.well-known/jwks`,
        subject_types_supported: ['public', 'pairwise'],
        response_types_supported: ['id_token'],
        claims_supported: [
          ...new Set(['sub', 'aud', 'exp', 'iat', 'iss', 'jti', 'nbf', ...Object.keys(issuer.defaults)]),
        ],
        id_token_signing_alg_values_supported: ['RS256'],
        scopes_supported: ['openid'],
      });
    }
    if (req.method === 'GET' && url.pathname === '/.well-known/jwks') {
      issuer.jwksRequests++;
      return json(200, { keys: [jwk] });
    }
    if (req.method === 'GET' && url.pathname === '/_apis/token') {
      if (req.headers.authorization !== `Bearer ${runtimeToken}`) {
        return json(401, { message: 'bad runtime token' });
      }
      const audience = url.searchParams.get('audience');
      issuer.runtimeRequests++;
      const claims = audience ? { aud: audience } : {};
      issuer.mint(claims).then(
        (value) => json(200, { value }),
        () => json(500, { message: 'mint failed' }),
      );
      return;
    }
    if (req.method === 'POST' && url.pathname === '/_mint') {
      if (req.headers.authorization !== `Bearer ${mintToken}`) {
        return json(401, { message: 'bad mint token' });
      }
      readBody(req).then(
        async (text) => {
          let body: unknown;
          try {
            body = JSON.parse(text || '{}');
          } catch {
            return json(400, { message: 'the body is not JSON' });
          }
          const claims = isRecord(body) && isRecord(body.claims) ? body.claims : {};
          const include =
            isRecord(body) && Array.isArray(body.include)
              ? body.include.filter((n): n is string => typeof n === 'string')
              : [];
          const unknown = include.filter((n) => !(n in issuer.optional));
          if (unknown.length > 0) return json(400, { message: `no optional claim ${unknown.join(', ')}` });
          const extra = Object.fromEntries(include.map((n) => [n, issuer.optional[n]]));
          issuer.mintRequests.push({ claims, include });
          json(200, { value: await issuer.mint({ ...claims, ...extra }) });
        },
        () => json(500, { message: 'mint failed' }),
      );
      return;
    }
    json(404, { message: 'not found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}${path}`;

  const issuer: LocalIssuer = {
    url,
    kid,
    runtimeUrl: `${url}/_apis/token?api-version=2.0`,
    runtimeToken,
    runtimeRequests: 0,
    jwksRequests: 0,
    mintUrl: `${url}/_mint`,
    mintToken,
    mintRequests: [],
    optional: { ...opts.optional },
    defaults: opts.defaults
      ? { ...opts.defaults }
      : {
          aud: 'http://127.0.0.1:8080',
          repository: 'acme/web',
          repository_id: '123456',
          repository_owner: 'acme',
          repository_owner_id: '1000',
          repository_visibility: 'public',
          ref: 'refs/heads/main',
          ref_type: 'branch',
          ref_protected: 'true',
          sha: 'a'.repeat(40),
          event_name: 'push',
          workflow: 'CI',
          workflow_ref: 'acme/web/.github/workflows/ci.yml@refs/heads/main',
          workflow_sha: 'a'.repeat(40),
          job_workflow_ref: 'acme/web/.github/workflows/ci.yml@refs/heads/main',
          job_workflow_sha: 'a'.repeat(40),
          run_id: '4242',
          run_number: '7',
          run_attempt: '1',
          actor: 'octocat',
          actor_id: '583231',
          head_ref: '',
          base_ref: '',
          runner_environment: 'github-hosted',
        },
    async mint(claims = {}) {
      const now = Math.floor(Date.now() / 1000);
      const merged: Record<string, unknown> = {
        iss: url,
        jti: randomUUID(),
        iat: now,
        nbf: now - 5,
        exp: now + 300,
        ...issuer.defaults,
        ...claims,
      };
      if (!('sub' in claims) && opts.subject) {
        merged.sub = opts.subject(merged);
      } else if (!('sub' in claims)) {
        const repo = String(merged.repository ?? '');
        const env = merged.environment;
        merged.sub =
          typeof env === 'string'
            ? `repo:${repo}:environment:${env}`
            : merged.event_name === 'pull_request'
              ? `repo:${repo}:pull_request`
              : `repo:${repo}:ref:${String(merged.ref ?? '')}`;
      }
      for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
      const token = await new SignJWT(merged)
        .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
        .sign(privateKey);
      mintedSecret(token); // the runner harness's leak check looks for it (secrets.ts)
      return token;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return issuer;
}
