// CircleCI, GitLab and Buildkite exchanges, in-process through app.request(): msw serves each issuer's JWKS at its
// default address (the config names no jwks_uri, so these tests pin the defaults) and fails on any other request;
// tokens are real RS256 JWTs shaped like the providers' own, extra claims included.
import { randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createLocalJWKSet, decodeJwt, jwtVerify, SignJWT } from 'jose';
import type { JWK } from 'jose';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from './broker';
import { createBroker } from './broker';
import { ConfigProblems, loadConfig, parseConfig } from './config';
import { GENERIC_REFUSAL } from './policy';
import { logInto } from '../../test/support/log';
import { rsaKeyPair } from '../../test/support/keys';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BROKER = 'https://broker.example.test';
const KID = 'ci-key-1';

const CIRCLE_ORG = '3f1c2b7e-5d4a-4e8b-9c61-0a2b3c4d5e6f';
const OTHER_ORG = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const CIRCLE_ISSUER = `https://oidc.circleci.com/org/${CIRCLE_ORG}`;
const CIRCLE_PROJECT = '8d0f6a52-1b3c-4e7d-a9f0-2c4b6d8e0f13';
const CIRCLE_CONTEXT = 'a74579f1-2e7d-451e-b009-5c082ad2729e';
const GITLAB_ISSUER = 'https://gitlab.com';
const BUILDKITE_ISSUER = 'https://agent.buildkite.com';
const BK_ORG_ID = '0188d1c2-3b4a-4c5d-9e8f-7a6b5c4d3e2f';
const BK_PIPELINE_ID = '01890f3c-7a2b-4c5d-8e9f-a0b1c2d3e4f5';

const JWKS = {
  circleci: `${CIRCLE_ISSUER}/.well-known/jwks-pub.json`,
  gitlab: 'https://gitlab.com/oauth/discovery/keys',
  buildkite: 'https://agent.buildkite.com/.well-known/jwks',
} as const;
type Ci = keyof typeof JWKS;

let rsa: { privateKey: KeyObject; publicKey: KeyObject };
let otherRsa: { privateKey: KeyObject; publicKey: KeyObject };
let jwk: JWK;
const fetches: Record<Ci, number> = { circleci: 0, gitlab: 0, buildkite: 0 };
let dir: string;
const logs: string[] = [];
const brokers: Broker[] = [];
const tokensSeen: string[] = [];

const server = setupServer(
  ...(Object.entries(JWKS) as [Ci, string][]).map(([ci, uri]) =>
    http.get(uri, () => {
      fetches[ci]++;
      return HttpResponse.json({ keys: [jwk] });
    }),
  ),
);

// The GitLab rule README.md shows (examples/broker.yml has the same one, as example-gitlab-main).
const GITLAB_README_RULE = `      - id: gitlab-main
        provider: gitlab
        project_id: '4242'
        ref: main
        ref_protected: 'true'
`;

const CONFIG = `public_url: ${BROKER}
token_ttl: 10m
issuers:
  circleci-acme:
    provider: circleci
    issuer: ${CIRCLE_ISSUER}
  gitlab:
    issuer: ${GITLAB_ISSUER}
  buildkite:
    issuer: ${BUILDKITE_ISSUER}
registry: { host: "localhost:5001", service: depot-cache }
rate_limit: { per_address: 0, failures_per_address: 0 }
projects:
  - id: circle-web
    rules:
      - { id: circle-main, provider: circleci, project_id: "${CIRCLE_PROJECT}", vcs_origin: github.com/acme/web, vcs_ref: refs/heads/main }
      - { id: circle-branches, provider: circleci, project_id: "${CIRCLE_PROJECT}", vcs_origin: github.com/acme/web, vcs_ref: "refs/heads/**", context_ids: "${CIRCLE_CONTEXT}", grants: [build, "cache:read"] }
  - id: gitlab-web
    rules:
${GITLAB_README_RULE}  - id: gitlab-docs
    rules:
      - { id: docs-by-path, provider: gitlab, project_path: acme/docs, ref: main, ref_protected: true }
      - { id: docs-mrs, provider: gitlab, project_id: "5151", pipeline_source: [merge_request_event], grants: [build, "cache:read", "cache:write"] }
  - id: buildkite-web
    rules:
      - { id: buildkite-main, provider: buildkite, organization_slug: acme, pipeline_slug: web, pipeline_id: "${BK_PIPELINE_ID}", build_branch: main }
`;

function now(): number {
  return Math.floor(Date.now() / 1000);
}

function times(): Record<string, number> {
  const t = now();
  return { iat: t, nbf: t - 5, exp: t + 300 };
}

/** A CircleCI V2 token's claims (the job's `circleci run oidc get --claims '{"aud":"<broker>"}'`). */
function circleClaims(): Record<string, unknown> {
  const user = '6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d';
  return {
    iss: CIRCLE_ISSUER,
    aud: BROKER,
    sub: `org/${CIRCLE_ORG}/project/${CIRCLE_PROJECT}/user/${user}/vcs-origin/github.com/acme/web/vcs-ref/refs/heads/main`,
    ...times(),
    'oidc.circleci.com/org-id': CIRCLE_ORG,
    'oidc.circleci.com/project-id': CIRCLE_PROJECT,
    'oidc.circleci.com/pipeline-definition-id': '2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e',
    'oidc.circleci.com/pipeline-id': '7c6b5a4f-3e2d-4c1b-8a9f-0e1d2c3b4a59',
    'oidc.circleci.com/workflow-id': 'd1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a',
    'oidc.circleci.com/job-id': 'e2f3a4b5-c6d7-4e8f-9a0b-1c2d3e4f5a6b',
    'oidc.circleci.com/vcs-origin': 'github.com/acme/web',
    'oidc.circleci.com/vcs-ref': 'refs/heads/main',
    'oidc.circleci.com/context-ids': [CIRCLE_CONTEXT, 'cb32986e-2f6f-4f43-b2bd-d3c2fd98e903'],
    'oidc.circleci.com/ssh-rerun': false,
  };
}

/** A GitLab id_tokens token, as gitlab.com issues one (runner_id is a number, user_identities a list). */
function gitlabClaims(): Record<string, unknown> {
  return {
    iss: GITLAB_ISSUER,
    aud: BROKER,
    sub: 'project_path:acme/web:ref_type:branch:ref:main',
    jti: randomUUID(),
    ...times(),
    namespace_id: '72',
    namespace_path: 'acme',
    project_id: '4242',
    project_path: 'acme/web',
    user_id: '17',
    user_login: 'alice',
    user_email: 'alice@example.com',
    user_access_level: 'maintainer',
    user_identities: [{ provider: 'github', extern_uid: '2435' }],
    pipeline_id: '98001',
    pipeline_source: 'push',
    job_id: '5550001',
    ref: 'main',
    ref_type: 'branch',
    ref_path: 'refs/heads/main',
    ref_protected: 'true',
    groups_direct: ['acme', 'acme/platform'],
    runner_id: 31,
    runner_environment: 'gitlab-hosted',
    sha: 'c'.repeat(40),
    project_visibility: 'private',
    ci_config_ref_uri: 'gitlab.com/acme/web//.gitlab-ci.yml@refs/heads/main',
    ci_config_sha: 'c'.repeat(40),
  };
}

/** A Buildkite agent token (`buildkite-agent oidc request-token --audience <broker> --claim
 * organization_id,pipeline_id`): build_number is a number, build_tag and step_key may be null. */
function buildkiteClaims(): Record<string, unknown> {
  return {
    iss: BUILDKITE_ISSUER,
    aud: BROKER,
    sub: `organization:acme:pipeline:web:ref:refs/heads/main:commit:${'d'.repeat(40)}:step:build`,
    ...times(),
    organization_slug: 'acme',
    organization_id: BK_ORG_ID,
    pipeline_slug: 'web',
    pipeline_id: BK_PIPELINE_ID,
    build_number: 42,
    build_branch: 'main',
    build_tag: null,
    build_commit: 'd'.repeat(40),
    build_source: 'webhook',
    step_key: null,
    job_id: '0184990a-477b-4fa8-9968-496074483cee',
    agent_id: '0184990a-4782-42b5-afc1-16715b10b8ff',
    runner_environment: 'self-hosted',
    'agent_tag:queue': 'default',
  };
}

const BASE: Record<Ci, () => Record<string, unknown>> = {
  circleci: circleClaims,
  gitlab: gitlabClaims,
  buildkite: buildkiteClaims,
};

async function mint(ci: Ci, over: Record<string, unknown> = {}, key?: KeyObject): Promise<string> {
  const claims = { ...BASE[ci](), ...over };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: KID, typ: 'JWT' })
    .sign(key ?? rsa.privateKey);
  tokensSeen.push(token);
  return token;
}

async function broker(config = CONFIG): Promise<Broker> {
  const file = join(dir, `broker-${randomUUID()}.yml`);
  writeFileSync(file, config);
  const log = logInto(logs);
  const b = await createBroker({ configPath: file, dataDir: join(dir, `data-${randomUUID()}`), log });
  brokers.push(b);
  return b;
}

interface Reply {
  status: number;
  body: { ok: boolean; token?: string; project?: string; error?: { code: string; message: string } };
  text: string;
}

async function post(b: Broker, ci: string, token: string, project?: string): Promise<Reply> {
  const res = await b.app.request(`/auth/oidc/${ci}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(project === undefined ? { token } : { token, project }),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Reply['body'], text };
}

let b: Broker;

beforeAll(async () => {
  rsa = rsaKeyPair(2048);
  otherRsa = rsaKeyPair(2048);
  jwk = { ...(rsa.publicKey.export({ format: 'jwk' }) as JWK), kid: KID, alg: 'RS256', use: 'sig' };
  dir = mkdtempSync(join(tmpdir(), 'broker-providers-'));
  server.listen({ onUnhandledRequest: 'error' });
  b = await broker();
});

afterEach(() => server.resetHandlers());

afterAll(async () => {
  server.close();
  for (const x of brokers) await x.close();
  rmSync(dir, { recursive: true, force: true });
  const all = logs.join('');
  for (const t of tokensSeen) expect(all).not.toContain(t);
});

/** The minted project token's claims, verified with the broker's published keys. */
async function minted(ci: Ci, over: Record<string, unknown> = {}, project?: string) {
  const r = await post(b, ci, await mint(ci, over), project);
  expect(r.status, r.text).toBe(200);
  const token = r.body.token ?? '';
  tokensSeen.push(token);
  const jwks = (await (await b.app.request('/.well-known/jwks.json')).json()) as { keys: JWK[] };
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: BROKER,
    audience: `${BROKER}/project`,
    algorithms: ['ES256'],
    typ: 'depot-project+jwt',
  });
  return payload;
}

type Case = {
  name: string;
  ci: Ci;
  over: Record<string, unknown>;
  status: number;
  code: string;
  message?: string | RegExp;
};

const refusals: Case[] = [
  // CircleCI
  {
    name: 'a token of another CircleCI organization (its issuer is not configured)',
    ci: 'circleci',
    over: { iss: `https://oidc.circleci.com/org/${OTHER_ORG}`, 'oidc.circleci.com/org-id': OTHER_ORG },
    status: 401,
    code: 'bad_issuer',
  },
  {
    name: "CircleCI's default audience, the organization id",
    ci: 'circleci',
    over: { aud: CIRCLE_ORG },
    status: 401,
    code: 'bad_audience',
  },
  {
    name: 'another project of the organization',
    ci: 'circleci',
    over: { 'oidc.circleci.com/project-id': '11111111-2222-4333-8444-555555555555' },
    status: 403,
    code: 'no_trust_relationship',
    message: GENERIC_REFUSAL,
  },
  {
    name: "a forked pull request's build of the project (another vcs_origin): the owner learns the field",
    ci: 'circleci',
    over: {
      'oidc.circleci.com/vcs-origin': 'github.com/mallory/web',
      'oidc.circleci.com/vcs-ref': 'refs/pull/12/head',
    },
    status: 403,
    code: 'no_trust_relationship',
    message:
      'rule circle-main (project circle-web) wants vcs_origin "github.com/acme/web" but the token has "github.com/mallory/web"',
  },
  {
    name: 'a branch build without the context the branch rule pins',
    ci: 'circleci',
    over: { 'oidc.circleci.com/vcs-ref': 'refs/heads/feature/x', 'oidc.circleci.com/context-ids': [] },
    status: 403,
    code: 'no_trust_relationship',
    message: /wants context_ids a list holding "a74579f1-2e7d-451e-b009-5c082ad2729e" but the token has \[\]/,
  },
  {
    name: 'context-ids as a string, not a list',
    ci: 'circleci',
    over: { 'oidc.circleci.com/context-ids': CIRCLE_CONTEXT },
    status: 401,
    code: 'bad_claim_type',
    message: 'the oidc.circleci.com/context-ids claim must be a list of strings, not a string',
  },
  {
    name: 'ssh-rerun as the string "false"',
    ci: 'circleci',
    over: { 'oidc.circleci.com/ssh-rerun': 'false' },
    status: 401,
    code: 'bad_claim_type',
    message: 'the oidc.circleci.com/ssh-rerun claim must be true or false, not a string',
  },
  {
    name: 'project-id as a number',
    ci: 'circleci',
    over: { 'oidc.circleci.com/project-id': 4242 },
    status: 401,
    code: 'bad_claim_type',
  },
  {
    name: 'a CircleCI token without its project-id (a required claim)',
    ci: 'circleci',
    over: { 'oidc.circleci.com/project-id': undefined },
    status: 401,
    code: 'missing_claim',
  },
  {
    name: 'a CircleCI token older than an hour',
    ci: 'circleci',
    over: { iat: now() - 3700, nbf: now() - 3700, exp: now() + 60 },
    status: 401,
    code: 'token_too_old',
  },
  {
    name: 'a CircleCI token signed by another key',
    ci: 'circleci',
    over: { __key: 'other' },
    status: 401,
    code: 'bad_signature',
  },
  // GitLab
  {
    name: "a stranger's gitlab.com project",
    ci: 'gitlab',
    over: {
      project_id: '999001',
      project_path: 'mallory/web',
      namespace_id: '666',
      namespace_path: 'mallory',
      sub: 'project_path:mallory/web:ref_type:branch:ref:main',
    },
    status: 403,
    code: 'no_trust_relationship',
    message: GENERIC_REFUSAL,
  },
  {
    name: 'a stranger re-creating acme/docs by path',
    ci: 'gitlab',
    over: { project_id: '999002', project_path: 'acme/docs', ref_protected: 'false' },
    status: 403,
    code: 'no_trust_relationship',
    message: GENERIC_REFUSAL,
  },
  {
    name: 'an unprotected main under the README rule',
    ci: 'gitlab',
    over: { ref_protected: 'false' },
    status: 403,
    code: 'no_trust_relationship',
    message: 'rule gitlab-main (project gitlab-web) wants ref_protected "true" but the token has "false"',
  },
  {
    name: 'a merge request pipeline of protected main under the README rule',
    ci: 'gitlab',
    over: { pipeline_source: 'merge_request_event' },
    status: 403,
    code: 'event_not_allowed',
    message:
      'pipeline_source "merge_request_event" is not accepted by default: rule gitlab-main must list it in pipeline_source to trust it',
  },
  {
    name: 'a child pipeline (parent_pipeline is not a default source)',
    ci: 'gitlab',
    over: { pipeline_source: 'parent_pipeline' },
    status: 403,
    code: 'event_not_allowed',
  },
  {
    name: 'a feature branch pipeline under the README rule',
    ci: 'gitlab',
    over: { ref: 'main-evil', ref_protected: 'false' },
    status: 403,
    code: 'no_trust_relationship',
    message: 'rule gitlab-main (project gitlab-web) wants ref "main" but the token has "main-evil"',
  },
  {
    name: 'project_id as a number',
    ci: 'gitlab',
    over: { project_id: 4242 },
    status: 401,
    code: 'bad_claim_type',
  },
  {
    name: 'ref_protected as a boolean',
    ci: 'gitlab',
    over: { ref_protected: true },
    status: 401,
    code: 'bad_claim_type',
    message: 'the ref_protected claim must be a string, not a boolean',
  },
  {
    name: 'a GitLab token without pipeline_source (a required claim)',
    ci: 'gitlab',
    over: { pipeline_source: undefined },
    status: 401,
    code: 'missing_claim',
  },
  {
    name: 'a token of a self-managed GitLab this broker does not list',
    ci: 'gitlab',
    over: { iss: 'https://gitlab.evil.example.test' },
    status: 401,
    code: 'bad_issuer',
  },
  // Buildkite
  {
    name: "another Buildkite organization's pipeline of the same slug",
    ci: 'buildkite',
    over: {
      organization_slug: 'evil',
      organization_id: '7f6e5d4c-3b2a-4198-8776-655443322110',
      pipeline_id: '7f6e5d4c-3b2a-4198-8776-000000000001',
      sub: `organization:evil:pipeline:web:ref:refs/heads/main:commit:${'d'.repeat(40)}:step:build`,
    },
    status: 403,
    code: 'no_trust_relationship',
    message: GENERIC_REFUSAL,
  },
  {
    name: "another organization's token claiming our slugs but not our pipeline_id",
    ci: 'buildkite',
    over: { pipeline_id: '7f6e5d4c-3b2a-4198-8776-000000000002' },
    status: 403,
    code: 'no_trust_relationship',
    message: GENERIC_REFUSAL,
  },
  {
    name: 'a build of a pull request from a fork (owner:branch)',
    ci: 'buildkite',
    over: { build_branch: 'mallory:main' },
    status: 403,
    code: 'no_trust_relationship',
    message:
      'rule buildkite-main (project buildkite-web) wants build_branch "main" but the token has "mallory:main"',
  },
  {
    name: 'a token without pipeline_id (not requested with --claim)',
    ci: 'buildkite',
    over: { pipeline_id: undefined, organization_id: undefined },
    status: 403,
    code: 'no_trust_relationship',
    message: GENERIC_REFUSAL,
  },
  {
    name: 'build_number as a string',
    ci: 'buildkite',
    over: { build_number: '42' },
    status: 401,
    code: 'bad_claim_type',
    message: 'the build_number claim must be a number, not a string',
  },
  {
    name: 'step_key as a number',
    ci: 'buildkite',
    over: { step_key: 7 },
    status: 401,
    code: 'bad_claim_type',
    message: 'the step_key claim must be a string or null, not a number',
  },
  {
    name: 'build_tag as a list',
    ci: 'buildkite',
    over: { build_tag: ['v1'] },
    status: 401,
    code: 'bad_claim_type',
  },
  {
    name: 'a Buildkite token older than 10 minutes',
    ci: 'buildkite',
    over: { iat: now() - 700, nbf: now() - 700, exp: now() + 60 },
    status: 401,
    code: 'token_too_old',
  },
];

describe('CircleCI, GitLab and Buildkite exchanges refuse', () => {
  it.each(refusals)('$ci: $name -> $status $code', async (c) => {
    const { __key, ...over } = c.over;
    const before = { ...fetches };
    const token = await mint(c.ci, over, __key === 'other' ? otherRsa.privateKey : undefined);
    const r = await post(b, c.ci, token);
    expect([r.status, r.body.error?.code], r.text).toEqual([c.status, c.code]);
    if (typeof c.message === 'string') expect(r.body.error?.message).toBe(c.message);
    else if (c.message) expect(r.body.error?.message).toMatch(c.message);
    expect(r.text).not.toContain(token);
    if (c.code === 'bad_issuer') expect(fetches).toEqual(before);
  });

  it('records the operator detail of a stranger refusal in the audit, with the source identity', async () => {
    const res = await b.app.request('/auth/oidc/gitlab', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        token: await mint('gitlab', { project_id: '999001', project_path: 'mallory/web' }),
      }),
    });
    expect(res.status).toBe(403);
    const [row] = await b.deps.state.queryAudit({ requestId: res.headers.get('x-request-id') ?? '' });
    expect(row).toMatchObject({
      outcome: 'no_trust_relationship',
      provider: 'gitlab',
      repository: 'mallory/web',
      repositoryId: '999001',
      event: 'push',
      runId: '98001',
    });
    expect(row?.message).toMatch(/for repository "mallory\/web", ref "main", event "push": the closest rule/);
  });

  it("a token of one provider posted to another's path", async () => {
    const r = await post(b, 'gitlab', await mint('buildkite'));
    expect([r.status, r.body.error?.code]).toEqual([401, 'bad_issuer']);
    expect(r.body.error?.message).toMatch(/\/auth\/oidc\/buildkite/);
  });
});

describe('CircleCI, GitLab and Buildkite exchanges mint', () => {
  it('circleci: main of the pinned project and origin, full scope, the source identity', async () => {
    const p = await minted('circleci');
    expect(p).toMatchObject({
      project: 'circle-web',
      rule: 'circle-main',
      scope: 'build cache:read cache:write',
      provider: 'circleci',
      repository: 'github.com/acme/web',
      repository_id: CIRCLE_PROJECT,
      ref: 'refs/heads/main',
      run_id: 'd1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a',
    });
  });

  it('circleci: a branch build using the pinned context reads the cache; an SSH rerun of main never writes', async () => {
    const branch = await minted('circleci', { 'oidc.circleci.com/vcs-ref': 'refs/heads/feature/x' });
    expect([branch.rule, branch.scope]).toEqual(['circle-branches', 'build cache:read']);
    const ssh = await minted('circleci', { 'oidc.circleci.com/ssh-rerun': true });
    expect([ssh.rule, ssh.scope]).toEqual(['circle-main', 'build cache:read']);
  });

  it('circleci: the same token again (no jti, not single-use)', async () => {
    const token = await mint('circleci');
    expect((await post(b, 'circleci', token)).status).toBe(200);
    const again = await post(b, 'circleci', token);
    expect(again.status).toBe(200);
    tokensSeen.push(again.body.token ?? '');
  });

  it('gitlab: a protected main push under the README rule writes; extra claims of any type are ignored', async () => {
    const p = await minted('gitlab');
    expect(p).toMatchObject({
      project: 'gitlab-web',
      rule: 'gitlab-main',
      scope: 'build cache:read cache:write',
      provider: 'gitlab',
      repository: 'acme/web',
      repository_id: '4242',
      ref: 'main',
      sha: 'c'.repeat(40),
      run_id: '98001',
      event_name: 'push',
      workflow_ref: 'gitlab.com/acme/web//.gitlab-ci.yml@refs/heads/main',
    });
    for (const source of ['web', 'schedule', 'api', 'trigger']) {
      expect((await minted('gitlab', { pipeline_source: source })).scope).toBe(
        'build cache:read cache:write',
      );
    }
  });

  it('gitlab: a rule pinning a path only never writes; a rule listing merge_request_event never writes', async () => {
    const byPath = await minted('gitlab', { project_id: '5150', project_path: 'acme/docs' });
    expect([byPath.rule, byPath.scope]).toEqual(['docs-by-path', 'build cache:read']);
    const mr = await minted('gitlab', {
      project_id: '5151',
      project_path: 'acme/docs-mr',
      pipeline_source: 'merge_request_event',
      ref: 'feature',
      ref_protected: 'false',
    });
    expect([mr.rule, mr.scope]).toEqual(['docs-mrs', 'build cache:read']);
  });

  it('buildkite: main of the pinned pipeline, full scope; null build_tag and step_key are fine', async () => {
    const p = await minted('buildkite');
    expect(p).toMatchObject({
      project: 'buildkite-web',
      rule: 'buildkite-main',
      scope: 'build cache:read cache:write',
      provider: 'buildkite',
      repository: 'acme/web',
      repository_id: BK_PIPELINE_ID,
      ref: 'main',
      sha: 'd'.repeat(40),
      run_id: '42',
      event_name: 'webhook',
    });
    expect(decodeJwt(await mint('buildkite')).build_tag).toBeNull();
    expect((await minted('buildkite', { step_key: 'build', build_tag: 'v1.2.0' })).ref).toBe('v1.2.0');
  });

  it('fetched each key set from its default address once', () => {
    expect(fetches).toEqual({ circleci: 1, gitlab: 1, buildkite: 1 });
  });
});

describe('claims: pins under every provider', () => {
  const PINS = `${CONFIG.slice(0, CONFIG.indexOf('projects:'))}projects:
  - id: pinned
    rules:
      - { id: c-pin, provider: circleci, project_id: "${CIRCLE_PROJECT}", vcs_origin: github.com/acme/web, vcs_ref: refs/heads/main, claims: { "oidc.circleci.com/ssh-rerun": "false" } }
      - { id: g-pin, provider: gitlab, project_id: "4242", ref: main, ref_protected: "true", claims: { runner_environment: gitlab-hosted } }
      - { id: g-runner, provider: gitlab, project_id: "4343", ref: main, ref_protected: "true", claims: { runner_id: "31" } }
      - { id: b-pin, provider: buildkite, organization_slug: acme, pipeline_slug: web, pipeline_id: "${BK_PIPELINE_ID}", claims: { "agent_tag:queue": "deploy*", build_number: "4*" } }
`;
  let pinned: Broker;
  beforeAll(async () => {
    pinned = await broker(PINS);
  });

  async function status(ci: Ci, over: Record<string, unknown>): Promise<number> {
    const r = await post(pinned, ci, await mint(ci, over));
    if (r.body.token) tokensSeen.push(r.body.token);
    return r.status;
  }

  it('match strings, and declared booleans and numbers by their text; never an undeclared number', async () => {
    expect(await status('circleci', {})).toBe(200);
    expect(await status('circleci', { 'oidc.circleci.com/ssh-rerun': true })).toBe(403);
    expect(await status('gitlab', {})).toBe(200);
    expect(await status('gitlab', { runner_environment: 'self-hosted' })).toBe(403);
    // runner_id is a number the broker does not model: a pin on it never matches, and its type refuses nothing.
    expect(await status('gitlab', { project_id: '4343' })).toBe(403);
    expect(await status('buildkite', { 'agent_tag:queue': 'deploy-eu' })).toBe(200);
    expect(await status('buildkite', { 'agent_tag:queue': 'default' })).toBe(403);
  });
});

function problems(text: string): string[] {
  try {
    parseConfig(text, 'b.yml');
  } catch (err: unknown) {
    if (err instanceof ConfigProblems) return err.problems;
    throw err;
  }
  return [];
}

const HEAD = `public_url: https://broker.example.test
issuers:
  circleci-acme: { provider: circleci, issuer: "${CIRCLE_ISSUER}" }
  gitlab: { issuer: https://gitlab.com, required_claims: [ci_config_ref_uri] }
  buildkite: { issuer: https://agent.buildkite.com }
projects:
  - id: web
    rules:
`;

describe('their config', () => {
  it('issuer defaults: key sets, single use, token age, required claims (namespaced names too)', () => {
    const c = parseConfig(
      `${HEAD}      - { id: r, provider: gitlab, project_id: "1", ref_protected: "true" }\n`.replace(
        'provider: circleci,',
        'provider: circleci, required_claims: [oidc.circleci.com/vcs-origin],',
      ),
      'b.yml',
    );
    const by = Object.fromEntries(c.issuers.map((i) => [i.provider.name, i]));
    expect(by.circleci).toMatchObject({
      jwksUri: `${CIRCLE_ISSUER}/.well-known/jwks-pub.json`,
      singleUse: false,
      maxTokenAge: 3600,
      audience: 'https://broker.example.test',
      algorithms: ['RS256'],
    });
    expect(by.circleci?.requiredClaims).toEqual(
      expect.arrayContaining(['sub', 'oidc.circleci.com/project-id', 'oidc.circleci.com/vcs-origin']),
    );
    expect(by.circleci?.requiredClaims).not.toContain('jti');
    expect(by.gitlab).toMatchObject({
      jwksUri: 'https://gitlab.com/oauth/discovery/keys',
      singleUse: false,
      maxTokenAge: 3600,
    });
    expect(by.gitlab?.requiredClaims).toEqual(
      expect.arrayContaining([
        'project_id',
        'project_path',
        'ref_protected',
        'pipeline_source',
        'ci_config_ref_uri',
      ]),
    );
    expect(by.buildkite).toMatchObject({
      jwksUri: 'https://agent.buildkite.com/.well-known/jwks',
      singleUse: false,
      maxTokenAge: 600,
    });
    expect(by.buildkite?.requiredClaims).toEqual(
      expect.arrayContaining(['organization_slug', 'pipeline_slug', 'build_number', 'job_id']),
    );
    // ref_protected: true (a YAML boolean) reads as the claim's string.
    expect(c.projects[0]?.rules[0]?.fields.ref_protected).toBe('true');
  });

  it.each([
    {
      name: 'a GitLab rule pinning no project or namespace',
      rule: '{ id: r, provider: gitlab, ref: main, ref_protected: "true" }',
      want: 'b.yml:9: projects[0].rules[0]: rule r pins none of project_id, namespace_id, project_path, namespace_path: it would trust every project of the instance (anyone can create one on gitlab.com)',
    },
    {
      name: 'a Buildkite rule pinning no pipeline',
      rule: '{ id: r, provider: buildkite, organization_slug: acme, build_branch: main }',
      want: 'b.yml:9: projects[0].rules[0]: rule r must pin organization_slug (or organization_id) and pipeline_slug (or pipeline_id): every Buildkite organization shares the issuer https://agent.buildkite.com',
    },
    {
      name: 'a Buildkite rule pinning no organization',
      rule: '{ id: r, provider: buildkite, pipeline_slug: web }',
      want: 'b.yml:9: projects[0].rules[0]: rule r must pin organization_slug (or organization_id) and pipeline_slug (or pipeline_id): every Buildkite organization shares the issuer https://agent.buildkite.com',
    },
    {
      name: "a CircleCI project_id that is GitLab's kind",
      rule: '{ id: r, provider: circleci, project_id: "4242", vcs_origin: github.com/acme/web }',
      want: 'b.yml:9: projects[0].rules[0].project_id: "4242" is not a CircleCI project id (a lower-case UUID)',
    },
    {
      name: "a GitLab project_id that is CircleCI's kind",
      rule: `{ id: r, provider: gitlab, project_id: "${CIRCLE_PROJECT}" }`,
      want: `b.yml:9: projects[0].rules[0].project_id: "${CIRCLE_PROJECT}" is not a numeric id (quote it: "123456")`,
    },
    {
      name: 'a project_id no provider takes',
      rule: '{ id: r, provider: gitlab, project_id: "acme/web" }',
      want: 'b.yml:9: projects[0].rules[0].project_id: "acme/web" is not a numeric id (quote it: "123456")',
    },
    {
      name: 'a project_id that is a list',
      rule: '{ id: r, provider: gitlab, project_id: [1] }',
      want: 'b.yml:9: projects[0].rules[0].project_id: must be a CircleCI project id (a lower-case UUID) (circleci) or a numeric id, quoted (gitlab)',
    },
    {
      name: 'a GitLab rule key on a CircleCI rule',
      rule: '{ id: r, provider: circleci, project_id: "8d0f6a52-1b3c-4e7d-a9f0-2c4b6d8e0f13", ref: main }',
      want: 'b.yml:9: projects[0].rules[0].ref: unknown key for provider circleci (allowed here: id, provider, issuer, grants, isolated, project_id, vcs_origin, vcs_ref, context_ids)',
    },
    {
      name: 'ref_protected that is no boolean',
      rule: '{ id: r, provider: gitlab, project_id: "1", ref_protected: "yes" }',
      want: 'b.yml:9: projects[0].rules[0].ref_protected: "yes" is not true or false',
    },
    {
      name: 'a context id that is no UUID',
      rule: '{ id: r, provider: circleci, vcs_origin: github.com/acme/web, context_ids: [a] }',
      want: 'b.yml:9: projects[0].rules[0].context_ids: "["a"]" is not a CircleCI context id (a lower-case UUID)',
    },
  ])('refuses $name', ({ rule, want }) => {
    expect(problems(`${HEAD}      - ${rule}\n`)).toEqual([want]);
  });

  it('warns where a rule lets strangers in or cannot write what it grants', () => {
    const rules = [
      // 9: no vcs_origin; no project_id while granting the default (all)
      '{ id: c-loose, provider: circleci, vcs_ref: refs/heads/main }',
      // 10: read-only, a glob as wide as every ref: no warning
      `{ id: c-read, provider: circleci, project_id: "${CIRCLE_PROJECT}", vcs_origin: github.com/acme/api, vcs_ref: "refs/**", grants: [build, "cache:read"] }`,
      // 11: a glob as wide as every ref, with cache:write
      `{ id: c-wide, provider: circleci, project_id: "${CIRCLE_PROJECT}", vcs_origin: github.com/acme/web, vcs_ref: "refs/**", grants: [build, "cache:read", "cache:write"] }`,
      // 12: cache:write (the default grants) for every ref
      `{ id: c-any-ref, provider: circleci, project_id: "${CIRCLE_PROJECT}", vcs_origin: github.com/acme/web }`,
      // 13: a path only, unprotected
      '{ id: g-path, provider: gitlab, project_path: acme/web, ref: main }',
      // 14: merge requests listed with cache:write
      '{ id: g-mr, provider: gitlab, project_id: "4242", ref_protected: "true", pipeline_source: [push, merge_request_event], grants: [build, "cache:read", "cache:write"] }',
      // 15: slugs only
      '{ id: b-slugs, provider: buildkite, organization_slug: acme, pipeline_slug: web }',
    ];
    const c = parseConfig(`${HEAD}${rules.map((r) => `      - ${r}\n`).join('')}`, 'b.yml');
    expect(c.warnings).toEqual([
      'b.yml:9: projects[0].rules[0]: rule c-loose names no vcs_origin: a build of a forked pull request (when the project passes secrets to forks) gets tokens of this project; pin the repository, e.g. vcs_origin: github.com/acme/web',
      'b.yml:9: projects[0].rules[0]: rule c-loose has no project_id: it never grants cache:write',
      'b.yml:11: projects[0].rules[2]: rule c-wide grants cache:write to every ref: any branch or pull request build can poison what later builds reuse; add vcs_ref (e.g. refs/heads/main) or grant [build, "cache:read"]',
      'b.yml:12: projects[0].rules[3]: rule c-any-ref grants cache:write to every ref: any branch or pull request build can poison what later builds reuse; add vcs_ref (e.g. refs/heads/main) or grant [build, "cache:read"]',
      'b.yml:13: projects[0].rules[4]: rule g-path pins no project_id or namespace_id: it never grants cache:write (a renamed or deleted path can be taken by another project)',
      'b.yml:13: projects[0].rules[4]: rule g-path does not require ref_protected: "true": it never grants cache:write (every developer can push an unprotected branch)',
      'b.yml:14: projects[0].rules[5]: rule g-mr lists merge_request_event in pipeline_source: it never grants cache:write (merge requests run code from people who cannot push); grant [build, "cache:read"]',
      'b.yml:15: projects[0].rules[6]: rule b-slugs names its organization and pipeline by slug only: a slug freed by a renamed or deleted organization can be taken by another; pin organization_id or pipeline_id too (buildkite-agent oidc request-token --claim organization_id,pipeline_id)',
    ]);
  });

  it("warns when a CircleCI issuer accepts the organization id, CircleCI's default audience", () => {
    const c = parseConfig(
      `${HEAD}      - { id: r, provider: gitlab, project_id: "1", ref_protected: "true" }\n`.replace(
        `issuer: "${CIRCLE_ISSUER}" }`,
        `issuer: "${CIRCLE_ISSUER}", audience: "${CIRCLE_ORG}" }`,
      ),
      'b.yml',
    );
    expect(c.warnings).toEqual([
      `b.yml:3: issuers.circleci-acme.audience: the audience is the organization id, CircleCI's default: every relying party of the organization receives such tokens and could exchange them here; use the broker URL (the orb asks circleci run oidc get --claims '{"aud":"<broker url>"}')`,
    ]);
  });

  it("examples/broker.yml carries the README's GitLab rule, and loads without warnings", () => {
    const example = loadConfig(join(ROOT, 'examples', 'broker.yml'));
    expect(example.warnings).toEqual([]);
    const readme = parseConfig(`${HEAD}${GITLAB_README_RULE}`, 'b.yml').projects[0]?.rules[0];
    const inExample = example.projects.flatMap((p) => p.rules).find((r) => r.id === 'example-gitlab-main');
    expect(inExample?.fields).toEqual(readme?.fields);
    expect(inExample?.grants).toEqual(readme?.grants);
    for (const p of ['circleci', 'gitlab', 'buildkite']) {
      expect(example.projects.flatMap((x) => x.rules).some((r) => r.provider === p)).toBe(true);
    }
  });
});
