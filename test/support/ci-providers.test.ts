// The local issuers of the other CIs (issuer.ts with ci-providers.ts' profiles) and the stand-ins of their token
// tools (standins/circleci, standins/buildkite-agent): tokens verified with jose against the served key set.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildkiteProfile, circleciProfile, gitlabProfile, STANDINS, standinBin } from './ci-providers';
import { startIssuer } from './issuer';
import type { LocalIssuer } from './issuer';

const issuers: LocalIssuer[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const i of issuers) await i.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function issuerOf(profile: { issuer: Parameters<typeof startIssuer>[0] }): Promise<LocalIssuer> {
  const issuer = await startIssuer(profile.issuer);
  issuers.push(issuer);
  issuer.defaults.aud = 'http://127.0.0.1:8080';
  return issuer;
}

async function verify(issuer: LocalIssuer, token: string, audience = 'http://127.0.0.1:8080') {
  const jwks = createRemoteJWKSet(new URL(`${issuer.url}/.well-known/jwks`));
  const { payload } = await jwtVerify(token, jwks, {
    issuer: issuer.url,
    audience,
    algorithms: ['RS256'],
  });
  return payload;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(tool: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      join(STANDINS, tool),
      args,
      { env: { PATH: process.env.PATH ?? '', ...env } },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('a path-prefixed issuer', () => {
  let issuer: LocalIssuer;
  beforeAll(async () => {
    issuer = await issuerOf(circleciProfile());
  });

  it('has its path in iss and serves discovery and keys under it only', async () => {
    expect(issuer.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/org\/[0-9a-f-]{36}$/);
    const discovery = (await (await fetch(`${issuer.url}/.well-known/openid-configuration`)).json()) as {
      issuer: string;
      jwks_uri: string;
      claims_supported: string[];
    };
    expect(discovery.issuer).toBe(issuer.url);
    expect(discovery.jwks_uri).toBe(`${issuer.url}/.well-known/jwks`);
    expect(discovery.claims_supported).toContain('oidc.circleci.com/vcs-origin');
    const origin = new URL(issuer.url).origin;
    expect((await fetch(`${origin}/.well-known/jwks`)).status).toBe(404);
    expect((await fetch(`${origin}/org/other/.well-known/jwks`)).status).toBe(404);
  });

  it('mints claims with dots in their names and values that are not strings, and a sub of the CI', async () => {
    const claims = await verify(issuer, await issuer.mint());
    expect(claims['oidc.circleci.com/vcs-origin']).toBe('github.com/acme/web');
    expect(claims['oidc.circleci.com/ssh-rerun']).toBe(false);
    expect(claims['oidc.circleci.com/context-ids']).toEqual([expect.stringMatching(/^[0-9a-f-]{36}$/)]);
    expect(claims.sub).toMatch(
      /^org\/[0-9a-f-]{36}\/project\/[0-9a-f-]{36}\/user\/[0-9a-f-]{36}\/vcs-origin\/github\.com\/acme\/web\/vcs-ref\/refs\/heads\/main$/,
    );
    expect(claims).not.toHaveProperty('repository');
  });

  it('keeps GitLab numbers and Buildkite nulls as they are', async () => {
    const gitlab = await issuerOf(gitlabProfile());
    const g = await verify(gitlab, await gitlab.mint({ ref: 'v1.2.0', ref_type: 'tag' }));
    expect(g).toMatchObject({ runner_id: 31, ref_protected: 'true', project_path: 'acme/web' });
    expect(g.sub).toBe('project_path:acme/web:ref_type:tag:ref:v1.2.0');
    const buildkite = await issuerOf(buildkiteProfile());
    const b = await verify(buildkite, await buildkite.mint({ step_key: null }));
    expect(b).toMatchObject({ build_number: 1207, build_tag: null, step_key: null, pipeline_slug: 'web' });
    expect(b.sub).toMatch(/^organization:acme:pipeline:web:ref:refs\/heads\/main:commit:[0-9a-f]{40}:step:$/);
    expect(b).not.toHaveProperty('organization_id');
  });

  it('refuses the mint endpoint without its bearer token, and an optional claim it does not have', async () => {
    const post = (auth: string, body: unknown) =>
      fetch(issuer.mintUrl, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post('Bearer nope', {})).status).toBe(401);
    expect((await post(`Bearer ${issuer.mintToken}`, { include: ['organization_id'] })).status).toBe(400);
    expect(issuer.mintRequests).toEqual([]);
  });
});

describe('the stand-ins of the CI token tools', () => {
  it('circleci run oidc get prints a token with the aud of --claims, and records the call without it', async () => {
    const issuer = await issuerOf(circleciProfile());
    const dir = mkdtempSync(join(tmpdir(), 'standin-'));
    dirs.push(dir);
    const record = join(dir, 'calls.jsonl');
    const env = {
      STANDIN_OIDC_URL: issuer.mintUrl,
      STANDIN_OIDC_AUTH: issuer.mintToken,
      STANDIN_RECORD: record,
    };
    const r = await run('circleci', ['run', 'oidc', 'get', '--claims', '{"aud":"https://broker.test"}'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+\n$/);
    const claims = await verify(issuer, r.stdout.trim(), 'https://broker.test');
    expect(claims['oidc.circleci.com/vcs-ref']).toBe('refs/heads/main');
    const lines = readFileSync(record, 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      {
        tool: 'circleci',
        at: expect.any(Number) as unknown,
        args: ['run', 'oidc', 'get', '--claims', '{"aud":"https://broker.test"}'],
      },
    ]);
    expect(readFileSync(record, 'utf8')).not.toContain(r.stdout.trim());
    expect(issuer.mintRequests).toEqual([{ claims: { aud: 'https://broker.test' }, include: [] }]);
  });

  it.each([
    [
      'circleci',
      ['run', 'oidc', 'get'],
      { STANDIN_OIDC_EXIT: '3' },
      3,
      'Error: stand-in circleci: oidc get fails',
    ],
    ['circleci', ['run', 'oidc', 'get'], {}, 1, 'not in a job (STANDIN_OIDC_URL is not set)'],
    ['circleci', ['run', 'oidc', 'get', '--claims', '[1]'], {}, 1, '--claims is not a JSON object'],
    ['circleci', ['version'], {}, 2, 'unknown command version'],
    ['buildkite-agent', ['oidc', 'request-token'], { STANDIN_OIDC_EXIT: '4' }, 4, 'request-token fails'],
    ['buildkite-agent', ['oidc', 'request-token', '--bogus'], {}, 2, 'unknown flag --bogus'],
    ['buildkite-agent', ['meta-data', 'get', 'x'], {}, 2, 'unknown command meta-data get x'],
  ])('%s %j with %j exits %i: %s', async (tool, args, env, code, message) => {
    const r = await run(tool, args, env);
    expect(r.code).toBe(code);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
  });

  it('buildkite-agent oidc request-token takes --audience and adds the --claim claims', async () => {
    const profile = buildkiteProfile();
    const issuer = await issuerOf(profile);
    const env = { STANDIN_OIDC_URL: issuer.mintUrl, STANDIN_OIDC_AUTH: issuer.mintToken };
    const plain = await run(
      'buildkite-agent',
      ['oidc', 'request-token', '--audience', 'https://broker.test'],
      env,
    );
    expect(plain.code, plain.stderr).toBe(0);
    const p = await verify(issuer, plain.stdout.trim(), 'https://broker.test');
    expect(p).not.toHaveProperty('organization_id');
    const more = await run(
      'buildkite-agent',
      ['oidc', 'request-token', '--audience=https://broker.test', '--claim', 'organization_id,pipeline_id'],
      env,
    );
    expect(more.code, more.stderr).toBe(0);
    const m = decodeJwt(more.stdout.trim());
    expect(m.organization_id).toBe(profile.issuer.optional?.organization_id);
    expect(m.pipeline_id).toBe(profile.issuer.optional?.pipeline_id);
    const unknown = await run('buildkite-agent', ['oidc', 'request-token', '--claim', 'cluster_id'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('the issuer answered 400: no optional claim cluster_id');
  });

  it('standinBin links the named stand-ins only', async () => {
    const bin = standinBin(['circleci', 'buildkite-agent']);
    dirs.push(bin);
    const r = await new Promise<Run>((resolve) =>
      execFile(
        'sh',
        ['-c', 'command -v circleci; command -v buildkite-agent; command -v docker || true'],
        {
          env: { PATH: `${bin}:/usr/bin:/bin` },
        },
        (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
      ),
    );
    expect(r.stdout.split('\n').slice(0, 2)).toEqual([join(bin, 'circleci'), join(bin, 'buildkite-agent')]);
    expect(r.stdout).not.toContain(join(bin, 'docker'));
  });
});
