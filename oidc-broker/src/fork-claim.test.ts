// The fork-PR claim flow, in-process through app.request(): msw plays GitHub's REST API (and fails on any request it
// does not serve); the workflow run and pull request objects are GitHub's own example payloads
// (@octokit/webhooks-examples, whose `workflow_run` and `pull_request` objects are the REST API's shapes) with the
// fields the flow reads set per test; the artifact list is the REST API's `{total_count, artifacts}` shape. The
// clock of claim lifetimes and pacing is injected, so nothing here waits for real.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { JWK } from 'jose';
import { delay, http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CLAIM_EXCHANGE_PATH,
  CLAIM_PATH,
  CLAIM_SECRET,
  parseClaimCreated,
  parseClaimExchangeResponse,
} from '../../shared/contract/fork-claim';
import { readProjectToken } from '../../shared/contract/project-token';
import type { Broker } from './broker';
import { createBroker } from './broker';

const ISSUER = 'https://token.actions.example.test';
const BROKER = 'https://broker.example.test';
const API = 'https://api.github.com';
const GH_TOKEN = 'ghs_broker_test_token_0123456789';
const PROJECT_IDS = ['web', 'shared-a', 'shared-b', 'closed', 'org', 'pinned'];

const PROJECTS = `
projects:
  - id: web
    fork_policy: isolated
    rules:
      - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "123456", ref: refs/heads/main }
      - { id: web-prs, provider: github-actions, repository: acme/web, repository_id: "123456", event_name: [pull_request], grants: [build, "cache:read"] }
  - id: shared-a
    fork_policy: isolated
    rules:
      - { id: shared-a, provider: github-actions, repository: acme/shared, repository_id: "900", ref: refs/heads/main }
  - id: shared-b
    rules:
      - { id: shared-b, provider: github-actions, repository: acme/shared, repository_id: "900", ref: refs/heads/main }
  - id: closed
    rules:
      - { id: closed-main, provider: github-actions, repository: acme/closed, repository_id: "700", ref: refs/heads/main }
  - id: org
    fork_policy: isolated
    rules:
      - { id: org-all, provider: github-actions, repository_owner: orgx, repository_owner_id: "4000", ref: "refs/heads/**" }
  - id: pinned
    fork_policy: isolated
    rules:
      - { id: pinned-main, provider: github-actions, repository: acme/pinned, repository_id: "1", ref: refs/heads/main }
`;

function configText(
  rateLimit = 'rate_limit: { per_address: 0, failures_per_address: 0, claims_per_address: 0, claims_per_run: 0 }',
): string {
  return `public_url: ${BROKER}
token_ttl: 10m
issuers:
  github-actions:
    issuer: ${ISSUER}
    jwks_uri: ${ISSUER}/.well-known/jwks
registry: { host: "localhost:5001", service: depot-cache }
github: { api_url: ${API}, token_env: TEST_BROKER_GITHUB_TOKEN }
${rateLimit}
${PROJECTS}`;
}

// --- GitHub, as msw serves it ------------------------------------------------------------------------------------

interface Examples {
  name: string;
  examples: Record<string, unknown>[];
}
const require = createRequire(import.meta.url);
const examples = JSON.parse(
  readFileSync(require.resolve('@octokit/webhooks-examples/api.github.com/index.json'), 'utf8'),
) as Examples[];

function example(event: string, key: string): Record<string, unknown> {
  const found = examples.find((e) => e.name === event)?.examples.find((x) => x[key] !== undefined);
  if (!found) throw new Error(`no ${event} example with ${key} in @octokit/webhooks-examples`);
  return structuredClone(found[key]) as Record<string, unknown>;
}

type Json = Record<string, unknown>;

interface Fork {
  base: string;
  baseId: number;
  ownerId: number;
  head: string;
  sha: string;
  runId: number;
  attempt: number;
  pr: number;
}

let nextRun = 1000;
function fork(over: Partial<Fork> = {}): Fork {
  nextRun += 1;
  return {
    base: 'acme/web',
    baseId: 123456,
    ownerId: 1000,
    head: 'stranger/web',
    sha: randomBytes(20).toString('hex'),
    runId: nextRun,
    attempt: 1,
    pr: nextRun - 900,
    ...over,
  };
}

function runPayload(f: Fork, over: Json = {}): Json {
  const run = example('workflow_run', 'workflow_run');
  const repository = run.repository as Json;
  const headRepository = run.head_repository as Json;
  return {
    ...run,
    id: f.runId,
    run_attempt: f.attempt,
    event: 'pull_request',
    status: 'in_progress',
    conclusion: null,
    head_sha: f.sha,
    path: '.github/workflows/ci.yml',
    pull_requests: [],
    head_repository: { ...headRepository, full_name: f.head, fork: true },
    repository: {
      ...repository,
      id: f.baseId,
      full_name: f.base,
      private: false,
      owner: { ...(repository.owner as Json), id: f.ownerId },
    },
    ...over,
  };
}

function pullPayload(f: Fork, over: Json = {}): Json {
  const pull = example('pull_request', 'pull_request');
  const head = pull.head as Json;
  const base = pull.base as Json;
  return {
    ...pull,
    number: f.pr,
    head: { ...head, sha: f.sha, repo: { ...(head.repo as Json), full_name: f.head, fork: true } },
    base: { ...base, repo: { ...(base.repo as Json), full_name: f.base, id: f.baseId } },
    ...over,
  };
}

function artifactPayload(name: string, runId: number): Json {
  return {
    id: Math.floor(Math.random() * 1e9),
    node_id: 'MDg6QXJ0aWZhY3QxMQ==',
    name,
    size_in_bytes: 22,
    url: `${API}/repos/acme/web/actions/artifacts/11`,
    archive_download_url: `${API}/repos/acme/web/actions/artifacts/11/zip`,
    expired: false,
    digest: `sha256:${'c'.repeat(64)}`,
    created_at: '2026-11-30T20:00:00Z',
    expires_at: '2027-02-28T20:00:00Z',
    updated_at: '2026-11-30T20:00:00Z',
    workflow_run: {
      id: runId,
      repository_id: 123456,
      head_repository_id: 42,
      head_branch: 'patch-1',
      head_sha: 'a'.repeat(40),
    },
  };
}

type Route = 'run' | 'pull' | 'artifacts';
type Answer = () => Response | Promise<Response>;

const gh = {
  runs: new Map<string, Json | number>(),
  pulls: new Map<string, Json | number>(),
  /** Artifact names per run id. */
  artifacts: new Map<number, { name: string; runId: number }[]>(),
  /** Answers to give before the normal ones, per route. */
  failures: { run: [] as Answer[], pull: [] as Answer[], artifacts: [] as Answer[] },
  asked: { run: 0, pull: 0, artifacts: 0 },
  auth: new Set<string>(),
  reset() {
    this.runs.clear();
    this.pulls.clear();
    this.artifacts.clear();
    this.failures = { run: [], pull: [], artifacts: [] };
    this.asked = { run: 0, pull: 0, artifacts: 0 };
  },
};

/** GitHub knows this fork PR's run (in progress) and pull request; `run`/`pull` override their payloads. */
function serve(f: Fork, opts: { run?: Json | number; pull?: Json | number } = {}): Fork {
  gh.runs.set(`${f.base.toLowerCase()}#${f.runId}#${f.attempt}`, opts.run ?? runPayload(f));
  gh.pulls.set(`${f.base.toLowerCase()}#${f.pr}`, opts.pull ?? pullPayload(f));
  return f;
}

function upload(f: Fork, challenge: string, runId = f.runId): void {
  const list = gh.artifacts.get(f.runId) ?? [];
  list.push({ name: `depot-claim-${challenge}`, runId });
  gh.artifacts.set(f.runId, list);
}

function notFound(): Response {
  return HttpResponse.json(
    { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' },
    { status: 404 },
  );
}

async function answer(route: Route, normal: () => Response): Promise<Response> {
  gh.asked[route]++;
  const failure = gh.failures[route].shift();
  return failure ? failure() : normal();
}

const server = setupServer(
  http.get(`${API}/repos/:owner/:repo/actions/runs/:id/attempts/:n`, ({ params, request }) => {
    gh.auth.add(request.headers.get('authorization') ?? '');
    return answer('run', () => {
      const key = `${String(params.owner)}/${String(params.repo)}`.toLowerCase();
      const run = gh.runs.get(`${key}#${String(params.id)}#${String(params.n)}`);
      if (run === undefined) return notFound();
      if (typeof run !== 'number') return HttpResponse.json(run);
      const location = `${API}/repositories/42/actions/runs/${String(params.id)}/attempts/${String(params.n)}`;
      return new HttpResponse(null, { status: run, headers: { location } });
    });
  }),
  http.get(`${API}/repos/:owner/:repo/pulls/:n`, ({ params }) =>
    answer('pull', () => {
      const key = `${String(params.owner)}/${String(params.repo)}`.toLowerCase();
      const pull = gh.pulls.get(`${key}#${String(params.n)}`);
      if (pull === undefined) return notFound();
      return typeof pull === 'number' ? new HttpResponse(null, { status: pull }) : HttpResponse.json(pull);
    }),
  ),
  http.get(`${API}/repos/:owner/:repo/actions/runs/:id/artifacts`, ({ params, request }) =>
    answer('artifacts', () => {
      const name = new URL(request.url).searchParams.get('name');
      const listed = (gh.artifacts.get(Number(params.id)) ?? []).filter(
        (a) => name === null || a.name === name,
      );
      return HttpResponse.json({
        total_count: listed.length,
        artifacts: listed.map((a) => artifactPayload(a.name, a.runId)),
      });
    }),
  ),
);

// --- The broker ---------------------------------------------------------------------------------------------------

let dir: string;
let clock = Date.now();
const logs: string[] = [];
const brokers: Broker[] = [];
/** The config file each broker was made with. */
const configFiles = new Map<Broker, string>();
const secrets: string[] = [];
const errorMessages: string[] = [];

async function broker(
  opts: { config?: string; dataDir?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Broker> {
  const file = join(dir, `broker-${randomUUID()}.yml`);
  writeFileSync(file, opts.config ?? configText());
  const log = pino(
    { base: undefined, level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(chunk.toString());
        cb();
      },
    }),
  );
  const b = await createBroker({
    configPath: file,
    dataDir: opts.dataDir ?? join(dir, `data-${randomUUID()}`),
    log,
    env: opts.env ?? { TEST_BROKER_GITHUB_TOKEN: GH_TOKEN },
    now: () => clock,
    github: { retryDelayMs: 1, timeoutMs: opts.timeoutMs ?? 2_000 },
  });
  brokers.push(b);
  configFiles.set(b, file);
  return b;
}

interface Reply {
  status: number;
  body: Json & { error?: { code: string; message: string; requestId?: string } };
  text: string;
  headers: Headers;
}

async function post(b: Broker, path: string, body: unknown): Promise<Reply> {
  const res = await b.app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  const parsed = JSON.parse(text) as Reply['body'];
  if (parsed.error) errorMessages.push(parsed.error.message);
  return { status: res.status, body: parsed, text, headers: res.headers };
}

function claimBody(f: Fork, over: Json = {}): Json {
  return { repository: f.base, runId: f.runId, runAttempt: f.attempt, pullRequest: f.pr, ...over };
}

interface Claimed {
  claimId: string;
  challenge: string;
}

async function claimFor(b: Broker, f: Fork, over: Json = {}): Promise<Claimed> {
  const r = await post(b, CLAIM_PATH, claimBody(f, over));
  expect(r.status, r.text).toBe(201);
  const created = parseClaimCreated(r.body);
  if (created?.ok !== true) throw new Error(`not a claim answer: ${r.text}`);
  secrets.push(created.claimId);
  return { claimId: created.claimId, challenge: created.challenge };
}

async function poll(b: Broker, c: Claimed | string): Promise<Reply> {
  const r = await post(b, CLAIM_EXCHANGE_PATH, { claimId: typeof c === 'string' ? c : c.claimId });
  if (typeof r.body.token === 'string') secrets.push(r.body.token);
  return r;
}

function code(r: Reply): [number, string | undefined] {
  return [r.status, r.body.error?.code];
}

function advance(ms: number): void {
  clock += ms;
}

async function verified(b: Broker, token: string): Promise<Record<string, unknown>> {
  const jwks = (await (await b.app.request('/.well-known/jwks.json')).json()) as { keys: JWK[] };
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: BROKER,
    audience: `${BROKER}/project`,
    algorithms: ['ES256'],
    typ: 'depot-project+jwt',
  });
  return payload;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'broker-fork-'));
  server.listen({ onUnhandledRequest: 'error' });
});

beforeEach(() => gh.reset());
afterEach(() => server.resetHandlers());

afterAll(async () => {
  server.close();
  for (const b of brokers) await b.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
  const all = logs.join('');
  expect(all.length).toBeGreaterThan(0);
  // No claim id, minted token or GitHub token ever reached a log line.
  for (const s of [...secrets, GH_TOKEN]) expect(all).not.toContain(s);
  // No answer named a project: anyone can claim for any repository.
  expect(errorMessages.length).toBeGreaterThan(20);
  for (const m of errorMessages) {
    for (const id of PROJECT_IDS) expect(m).not.toMatch(new RegExp(`(^|[^/\\w-])${id}($|[^/\\w-])`));
  }
});

// --- Tests --------------------------------------------------------------------------------------------------------

describe('a fork pull request claims, proves and gets an isolated token', () => {
  let b: Broker;
  beforeAll(async () => {
    b = await broker();
  });

  it('201 claim, 202 until the artifact is listed, 200 once, 409 after', async () => {
    const f = serve(fork());
    const before = clock;
    const r = await post(b, CLAIM_PATH, claimBody(f));
    expect(r.status, r.text).toBe(201);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const c = r.body as unknown as Claimed & { ok: true; expiresAt: string };
    secrets.push(c.claimId);
    expect(c.ok).toBe(true);
    expect(c.claimId).toMatch(CLAIM_SECRET);
    expect(c.challenge).toMatch(CLAIM_SECRET);
    expect(c.claimId).not.toBe(c.challenge);
    expect(Date.parse(c.expiresAt)).toBe(before + 300_000);
    expect(gh.asked).toEqual({ run: 0, pull: 0, artifacts: 0 }); // a claim asks GitHub nothing

    const p1 = await poll(b, c);
    expect(p1.status, p1.text).toBe(202);
    expect(p1.body).toEqual({ ok: false, status: 'pending', retryAfter: 5 });
    expect(parseClaimExchangeResponse(p1.body)).toEqual({ ok: false, status: 'pending', retryAfter: 5 });
    expect(p1.headers.get('retry-after')).toBe('5');
    expect(gh.asked).toEqual({ run: 1, pull: 1, artifacts: 1 });
    expect([...gh.auth].every((a) => a.includes(GH_TOKEN))).toBe(true);

    // Within 5 s GitHub is not asked again, whatever the caller does.
    advance(2_000);
    const p2 = await poll(b, c);
    expect(p2.status).toBe(202);
    expect(p2.body.retryAfter).toBe(3);
    expect(gh.asked).toEqual({ run: 1, pull: 1, artifacts: 1 });

    upload(f, c.challenge);
    advance(3_000);
    const ok = await poll(b, c);
    expect(ok.status, ok.text).toBe(200);
    // Later polls only list artifacts: the run and the pull request were checked once.
    expect(gh.asked).toEqual({ run: 1, pull: 1, artifacts: 2 });
    expect(ok.body).toMatchObject({ ok: true, project: 'web', isolated: true });
    expect(parseClaimExchangeResponse(ok.body)?.ok).toBe(true);
    const token = String(ok.body.token);
    const claims = await verified(b, token);
    expect(claims).toMatchObject({
      sub: 'project:web',
      project: 'web',
      isolated: true,
      scope: 'build',
      rule: 'web-main',
      provider: 'github-actions',
      repository: 'acme/web',
      repository_id: '123456',
      ref: `refs/pull/${f.pr}/merge`,
      run_id: String(f.runId),
      run_attempt: '1',
      event_name: 'pull_request',
      pull_request: String(f.pr),
      head_repository: 'stranger/web',
      head_sha: f.sha,
      workflow_path: '.github/workflows/ci.yml',
    });
    expect(claims.cache).toBeUndefined();
    expect(readProjectToken({ typ: 'depot-project+jwt' }, claims).scopes).toEqual(new Set(['build']));

    advance(5_000);
    expect(code(await poll(b, c))).toEqual([409, 'claim_used']);
    expect(code(await poll(b, c))).toEqual([409, 'claim_used']);
    expect(gh.asked.artifacts).toBe(2);

    // The audit: the claim and the decided exchange (pending polls leave no row), by request id.
    const rows = (await b.deps.state.queryAudit({ repository: 'acme/web' })).filter(
      (a) => a.claim === c.challenge,
    );
    expect(rows.map((a) => [a.kind, a.outcome])).toEqual([
      ['claim', 'ok'],
      ['claim_exchange', 'ok'],
      ['claim_exchange', 'claim_used'],
      ['claim_exchange', 'claim_used'],
    ]);
    expect(rows[1]).toMatchObject({
      project: 'web',
      rule: 'web-main',
      runId: String(f.runId),
      runAttempt: '1',
      pullRequest: String(f.pr),
      headRepository: 'stranger/web',
      headSha: f.sha,
      workflowPath: '.github/workflows/ci.yml',
      repositoryId: '123456',
      client: 'in-process',
      requestId: ok.headers.get('x-request-id'),
      tokenSha256: createHash('sha256').update(token).digest('hex'),
    });
    expect(JSON.stringify(rows)).not.toContain(c.claimId);
  });

  it('the token opens no cache and no saved build at /v2/token, and is no CI token', async () => {
    const f = serve(fork());
    const c = await claimFor(b, f);
    upload(f, c.challenge);
    const ok = await poll(b, c);
    expect(ok.status, ok.text).toBe(200);
    const token = String(ok.body.token);
    const q = new URLSearchParams({ service: 'depot-cache' });
    const repos = ['cache/web', 'builds/web', 'cache/shared-a', 'builds/shared-a', 'cache/org', 'builds/org'];
    for (const repo of repos) q.append('scope', `repository:${repo}:pull,push`);
    const res = await b.app.request(`/v2/token?${q}`, {
      headers: { authorization: `Basic ${Buffer.from(`depot:${token}`).toString('base64')}` },
    });
    expect(res.status).toBe(200);
    const registryToken = ((await res.json()) as { token: string }).token;
    const payload = JSON.parse(Buffer.from(registryToken.split('.')[1] ?? '', 'base64url').toString()) as {
      access: { name: string; actions: string[] }[];
    };
    expect(Object.fromEntries(payload.access.map((a) => [a.name, a.actions]))).toEqual(
      Object.fromEntries(repos.map((r) => [r, []])),
    );
    const asCi = await post(b, '/auth/oidc/github-actions', { token });
    expect(code(asCi)).toEqual([401, 'bad_issuer']);
  });

  it('an owner rule (repository_owner) covers every repository of the owner; the claim names its project or not', async () => {
    const f = serve(fork({ base: 'orgx/tool', baseId: 31, ownerId: 4000, head: 'someone/tool' }));
    const c = await claimFor(b, f, { project: 'org' });
    upload(f, c.challenge);
    const ok = await poll(b, c);
    expect(ok.status, ok.text).toBe(200);
    expect((await verified(b, String(ok.body.token))).rule).toBe('org-all');
    // The owner id the rule pins must be GitHub's.
    const g = serve(fork({ base: 'orgx/tool', baseId: 31, ownerId: 4001, head: 'someone/tool' }));
    const d = await claimFor(b, g);
    expect(code(await poll(b, d))).toEqual([403, 'no_project']);
  });

  it('two projects cover a repository: the claim names one, or 409 ambiguous_project', async () => {
    const f = serve(fork({ base: 'acme/shared', baseId: 900 }));
    const r = await post(b, CLAIM_PATH, claimBody(f));
    expect(code(r)).toEqual([409, 'ambiguous_project']);
    const c = await claimFor(b, f, { project: 'shared-a' });
    upload(f, c.challenge);
    const ok = await poll(b, c);
    expect([ok.status, ok.body.project]).toEqual([200, 'shared-a']);
    expect(code(await post(b, CLAIM_PATH, claimBody(f, { project: 'shared-b' })))).toEqual([
      403,
      'fork_denied',
    ]);
  });

  it('an artifact of the same name in another run proves nothing', async () => {
    const f = serve(fork());
    const c = await claimFor(b, f);
    upload(f, c.challenge, f.runId + 1);
    expect((await poll(b, c)).status).toBe(202);
    advance(5_000);
    expect((await poll(b, c)).status).toBe(202);
    expect(gh.asked.artifacts).toBe(2);
  });

  it('a claim expires after 5 minutes: 410 claim_expired, and GitHub is not asked', async () => {
    const f = serve(fork());
    const c = await claimFor(b, f);
    expect((await poll(b, c)).status).toBe(202);
    upload(f, c.challenge);
    advance(300_000);
    expect(code(await poll(b, c))).toEqual([410, 'claim_expired']);
    advance(10_000);
    expect(code(await poll(b, c))).toEqual([410, 'claim_expired']);
    expect(gh.asked.artifacts).toBe(1);
  });

  it('a string naming no claim, whatever its length, is 404 unknown_claim', async () => {
    for (const id of [randomBytes(16).toString('base64url'), '', 'x', 'x'.repeat(60_000), '../../etc']) {
      expect(code(await poll(b, id))).toEqual([404, 'unknown_claim']);
    }
    expect(gh.asked).toEqual({ run: 0, pull: 0, artifacts: 0 });
  });
});

describe('requests are strict', () => {
  let b: Broker;
  beforeAll(async () => {
    b = await broker();
  });
  const f = fork();
  const base = claimBody(f);

  it.each([
    ['not JSON', '{'],
    ['an array', '[]'],
    ['null', 'null'],
    ['an unknown field', { ...base, event: 'pull_request' }],
    ['repository without an owner', { ...base, repository: 'web' }],
    ['repository with a path', { ...base, repository: 'acme/web/x' }],
    ['repository as a number', { ...base, repository: 5 }],
    ['runId missing', { ...base, runId: undefined }],
    ['runId as a string', { ...base, runId: String(f.runId) }],
    ['runId zero', { ...base, runId: 0 }],
    ['runId negative', { ...base, runId: -4 }],
    ['runId fractional', { ...base, runId: 1.5 }],
    ['runAttempt as a string', { ...base, runAttempt: '1' }],
    ['pullRequest as a boolean', { ...base, pullRequest: true }],
    ['pullRequest too large', { ...base, pullRequest: 2 ** 60 }],
    ['project empty', { ...base, project: '' }],
    ['project as a list', { ...base, project: ['web'] }],
    ['project that is no project id', { ...base, project: 'Acme/Web' }],
  ])('claim: %s is 400 malformed_request', async (_name, body) => {
    expect(code(await post(b, CLAIM_PATH, body))).toEqual([400, 'malformed_request']);
  });

  it.each([
    ['not JSON', 'claim'],
    ['no claimId', {}],
    ['claimId as a number', { claimId: 7 }],
    ['an unknown field', { claimId: 'x', project: 'web' }],
  ])('exchange: %s is 400 malformed_request', async (_name, body) => {
    expect(code(await post(b, CLAIM_EXCHANGE_PATH, body))).toEqual([400, 'malformed_request']);
  });

  it('a body over 64 KiB is 413 before anything parses it', async () => {
    expect(code(await post(b, CLAIM_PATH, { ...base, project: 'x'.repeat(70_000) }))).toEqual([
      413,
      'token_too_large',
    ]);
  });
});

describe('the config decides at claim time, naming no project', () => {
  let b: Broker;
  beforeAll(async () => {
    b = await broker();
  });

  it.each([
    ['a repository no project covers', { repository: 'other/web' }, 403, 'no_project'],
    ['a project that does not cover it', { project: 'org' }, 403, 'no_project'],
    ['a project that does not exist', { project: 'nope' }, 403, 'no_project'],
    ['a project whose fork_policy is deny (the default)', { repository: 'acme/closed' }, 403, 'fork_denied'],
    ['a repository two projects cover', { repository: 'acme/shared' }, 409, 'ambiguous_project'],
  ])('%s', async (_name, over, status, want) => {
    const r = await post(b, CLAIM_PATH, claimBody(fork(), over));
    expect(code(r)).toEqual([status, want]);
    expect(r.body.error?.requestId).toBe(r.headers.get('x-request-id'));
    const row = (await b.deps.state.queryAudit({ requestId: r.headers.get('x-request-id') ?? '' }))[0];
    expect(row).toMatchObject({ kind: 'claim', outcome: want });
    expect(gh.asked).toEqual({ run: 0, pull: 0, artifacts: 0 });
  });

  it('a 32 KB repository name: the audit row and the log line keep its start and say how much went', async () => {
    const r = await post(b, CLAIM_PATH, claimBody(fork(), { repository: `acme/${'w'.repeat(32 * 1024)}` }));
    expect(code(r)).toEqual([403, 'no_project']);
    const id = r.headers.get('x-request-id') ?? '';
    const [row] = await b.deps.state.queryAudit({ requestId: id });
    expect(row?.repository).toBe(`acme/${'w'.repeat(235)}\u2026(+32,533 chars)`);
    expect(row?.message).toMatch(/\u2026\(\+\d{2},\d{3} chars\)$/);
    expect(row?.message?.length).toBeLessThanOrEqual(1024);
    expect(Buffer.byteLength(JSON.stringify(row))).toBeLessThan(3 * 1024);
    const line = logs.filter((l) => l.includes(id));
    expect(line).toHaveLength(1);
    expect(line[0]?.length).toBeLessThan(3 * 1024);
    expect(line[0]).toContain(`"repository":"acme/${'w'.repeat(235)}\u2026(+32,533 chars)"`);
  });

  it('ref, event and workflow fields and claims: pins do not narrow what a rule covers', async () => {
    // web-main names ref refs/heads/main only; a fork PR run is refs/pull/N/merge, and still covered.
    const f = serve(fork());
    const c = await claimFor(b, f);
    upload(f, c.challenge);
    expect((await poll(b, c)).status).toBe(200);
  });
});

describe('GitHub refuses: final codes at exchange', () => {
  let b: Broker;
  beforeAll(async () => {
    b = await broker();
  });

  type Case = [string, () => Fork, number, string];
  const cases: Case[] = [
    ['no such run', () => fork(), 403, 'run_not_found'],
    [
      'no such attempt',
      () => {
        const f = fork();
        serve({ ...f, attempt: 2 });
        return f;
      },
      403,
      'run_not_found',
    ],
    [
      'the run answered for another repository (renamed)',
      () => {
        const f = fork();
        return serve(f, { run: runPayload({ ...f, base: 'acme/web2' }) });
      },
      403,
      'run_not_found',
    ],
    [
      'a renamed repository (GitHub answers 301: never followed)',
      () => {
        const f = fork();
        return serve(f, { run: 301 });
      },
      403,
      'run_not_found',
    ],
    [
      'a push run',
      () => {
        const f = fork();
        return serve(f, { run: runPayload(f, { event: 'push' }) });
      },
      403,
      'event_not_allowed',
    ],
    [
      'a pull_request_target run',
      () => {
        const f = fork();
        return serve(f, { run: runPayload(f, { event: 'pull_request_target' }) });
      },
      403,
      'event_not_allowed',
    ],
    [
      'a completed run',
      () => {
        const f = fork();
        return serve(f, { run: runPayload(f, { status: 'completed', conclusion: 'success' }) });
      },
      403,
      'run_not_in_progress',
    ],
    ['a same-repository pull request', () => serve(fork({ head: 'acme/web' })), 403, 'not_a_fork'],
    [
      'a same-repository pull request, in other case',
      () => serve(fork({ head: 'ACME/Web' })),
      403,
      'not_a_fork',
    ],
    [
      'a run whose head repository is gone',
      () => {
        const f = fork();
        return serve(f, { run: runPayload(f, { head_repository: null }) });
      },
      403,
      'not_a_fork',
    ],
    [
      'a private base repository',
      () => {
        const f = fork();
        const run = runPayload(f);
        (run.repository as Json).private = true;
        return serve(f, { run });
      },
      403,
      'repository_not_public',
    ],
    [
      'no such pull request',
      () => {
        const f = fork();
        serve(f);
        gh.pulls.clear();
        return f;
      },
      403,
      'pull_request_mismatch',
    ],
    [
      'a pull request at another head sha',
      () => {
        const f = fork();
        return serve(f, { pull: pullPayload({ ...f, sha: 'd'.repeat(40) }) });
      },
      403,
      'pull_request_mismatch',
    ],
    [
      'a pull request from another fork',
      () => {
        const f = fork();
        return serve(f, { pull: pullPayload({ ...f, head: 'mallory/web' }) });
      },
      403,
      'pull_request_mismatch',
    ],
    [
      'a pull request onto another repository',
      () => {
        const f = fork();
        return serve(f, { pull: pullPayload({ ...f, base: 'acme/other' }) });
      },
      403,
      'pull_request_mismatch',
    ],
    [
      'a repository_id other than the one the rule pins',
      () => serve(fork({ base: 'acme/pinned', baseId: 2 })),
      403,
      'no_project',
    ],
  ];

  it.each(cases)('%s', async (_name, setup, status, want) => {
    const f = setup();
    const c = await claimFor(b, f);
    upload(f, c.challenge);
    const first = await poll(b, c);
    expect(code(first), first.text).toEqual([status, want]);
    const asked = { ...gh.asked };
    expect(asked.artifacts).toBe(0);
    // Final: later polls get the same code, and GitHub is not asked again.
    advance(6_000);
    expect(code(await poll(b, c))).toEqual([status, want]);
    expect(gh.asked).toEqual(asked);
    const rows = (await b.deps.state.queryAudit({})).filter((r) => r.claim === c.challenge);
    expect(rows.map((r) => r.outcome)).toEqual(['ok', want, want]);
    expect(rows[1]?.message).toBeTruthy();
  });

  it('a reload that sets fork_policy deny refuses pending claims', async () => {
    const own = await broker();
    const f = serve(fork());
    const c = await claimFor(own, f);
    expect((await poll(own, c)).status).toBe(202);
    const configPath = configFiles.get(own) ?? '';
    writeFileSync(
      configPath,
      configText().replace('  - id: web\n    fork_policy: isolated\n', '  - id: web\n'),
    );
    expect(own.reload()).toBe(true);
    upload(f, c.challenge);
    advance(5_000);
    expect(code(await poll(own, c))).toEqual([403, 'fork_denied']);
  });
});

describe('GitHub fails: 503 github_unavailable with Retry-After, the claim kept', () => {
  let b: Broker;
  beforeAll(async () => {
    b = await broker({ timeoutMs: 200 });
  });

  type Case = [string, Answer[], number];
  const cases: Case[] = [
    [
      '500, twice (one retry)',
      [() => new HttpResponse('oops', { status: 500 }), () => new HttpResponse('oops', { status: 500 })],
      1,
    ],
    [
      '502, then 503',
      [() => new HttpResponse(null, { status: 502 }), () => new HttpResponse(null, { status: 503 })],
      1,
    ],
    [
      '429 with Retry-After',
      [() => HttpResponse.json({ message: 'too many' }, { status: 429, headers: { 'retry-after': '7' } })],
      7,
    ],
    [
      '403 with the quota spent',
      [
        () =>
          HttpResponse.json(
            { message: 'API rate limit exceeded for installation' },
            {
              status: 403,
              headers: {
                'x-ratelimit-remaining': '0',
                'x-ratelimit-reset': String(Math.floor(clock / 1000) + 40),
              },
            },
          ),
      ],
      40,
    ],
    [
      '403 saying secondary rate limit, without Retry-After: a minute',
      [() => HttpResponse.json({ message: 'You have exceeded a secondary rate limit' }, { status: 403 })],
      60,
    ],
    [
      '403 saying rate limit, with Retry-After',
      [
        () =>
          HttpResponse.json(
            { message: 'You have exceeded a secondary rate limit' },
            { status: 403, headers: { 'retry-after': '12' } },
          ),
      ],
      12,
    ],
    [
      "401: the broker's token is bad",
      [() => HttpResponse.json({ message: 'Bad credentials' }, { status: 401 })],
      1,
    ],
    [
      '403 that is no rate limit, an answer the broker does not expect',
      [() => HttpResponse.json({ message: 'Resource not accessible by integration' }, { status: 403 })],
      1,
    ],
    [
      '422, an answer the broker does not expect',
      [() => HttpResponse.json({ message: 'Validation Failed' }, { status: 422 })],
      1,
    ],
    ['a body that does not parse', [() => HttpResponse.json({ id: 'not a run' })], 1],
    [
      'not JSON at all',
      [() => new HttpResponse('<html>', { status: 200, headers: { 'content-type': 'text/html' } })],
      1,
    ],
    ['no answer (connection reset), twice', [() => HttpResponse.error(), () => HttpResponse.error()], 1],
    [
      'no answer in time, twice',
      [
        async () => {
          await delay(1_000);
          return HttpResponse.json({});
        },
        async () => {
          await delay(1_000);
          return HttpResponse.json({});
        },
      ],
      1,
    ],
  ];

  it.each(cases)('%s', async (_name, failures, retryAfter) => {
    const f = serve(fork());
    const c = await claimFor(b, f);
    gh.failures.run.push(...failures);
    const r = await poll(b, c);
    expect(code(r), r.text).toEqual([503, 'github_unavailable']);
    const wait = retryAfter;
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(wait - 1);
    expect(Number(r.headers.get('retry-after'))).toBeLessThanOrEqual(wait + 1);
    expect(gh.failures.run).toEqual([]);
    // Until then: 202 pending, and GitHub is not asked.
    const asked = gh.asked.run;
    const between = await poll(b, c);
    expect(between.status).toBe(202);
    expect(gh.asked.run).toBe(asked);
    // Then it asks again, and the claim goes on.
    upload(f, c.challenge);
    advance(Number(r.headers.get('retry-after')) * 1000);
    const ok = await poll(b, c);
    expect(ok.status, ok.text).toBe(200);
  });

  it('logs a bad broker token and an unreadable answer as errors', () => {
    const errors = logs.filter((l) => l.includes('"level":50'));
    expect(errors.some((l) => l.includes('401') && l.includes('TEST_BROKER_GITHUB_TOKEN'))).toBe(true);
    expect(errors.some((l) => l.includes('does not parse'))).toBe(true);
    expect(errors.some((l) => l.includes('422'))).toBe(true);
    expect(errors.some((l) => l.includes('Resource not accessible by integration'))).toBe(true);
  });

  it('backs off 1 s, 2 s, 4 s ... up to 30 s while GitHub keeps failing', async () => {
    const f = serve(fork());
    const c = await claimFor(b, f);
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      gh.failures.artifacts.push(
        () => new HttpResponse(null, { status: 500 }),
        () => new HttpResponse(null, { status: 500 }),
      );
      const r = await poll(b, c);
      expect(code(r)).toEqual([503, 'github_unavailable']);
      waits.push(Number(r.headers.get('retry-after')));
      advance(waits.at(-1)! * 1000);
    }
    expect(waits).toEqual([1, 2, 4, 8, 16, 30, 30]);
    expect(gh.asked.run).toBe(1); // the run and pull request passed once; only the listing failed
    upload(f, c.challenge);
    expect((await poll(b, c)).status).toBe(200);
  });

  it('no GitHub token: a start warning naming the variable, and 503 to claims without asking GitHub', async () => {
    const from = logs.length;
    const none = await broker({ env: {} });
    const started = logs.slice(from).join('');
    expect(started.match(/TEST_BROKER_GITHUB_TOKEN is empty/g)).toHaveLength(1);
    const r = await post(none, CLAIM_PATH, claimBody(fork()));
    expect(code(r)).toEqual([503, 'github_unavailable']);
    expect(r.headers.get('retry-after')).toBeTruthy();
    expect(gh.asked).toEqual({ run: 0, pull: 0, artifacts: 0 });
  });
});

describe('rate limits', () => {
  it('claims_per_address and claims_per_run', async () => {
    const b = await broker({
      config: configText(
        'rate_limit: { per_address: 0, failures_per_address: 0, claims_per_address: 4, claims_per_run: 2 }',
      ),
    });
    const f = fork();
    expect((await post(b, CLAIM_PATH, claimBody(f))).status).toBe(201);
    expect((await post(b, CLAIM_PATH, claimBody(f))).status).toBe(201);
    const third = await post(b, CLAIM_PATH, claimBody(f));
    expect(code(third)).toEqual([429, 'rate_limited']);
    expect(third.headers.get('retry-after')).toBeTruthy();
    expect((await post(b, CLAIM_PATH, claimBody(fork()))).status).toBe(201);
    expect(code(await post(b, CLAIM_PATH, claimBody(fork())))).toEqual([429, 'rate_limited']);
  });

  it('polls count under per_address (a 202 never does), refusals under failures_per_address', async () => {
    const b = await broker({
      config: configText(
        'rate_limit: { per_address: 3, failures_per_address: 2, claims_per_address: 0, claims_per_run: 0 }',
      ),
    });
    const f = serve(fork());
    const c = await claimFor(b, f);
    for (let i = 0; i < 6; i++) expect((await poll(b, c)).status).toBe(202);
    expect(code(await poll(b, 'nope'))).toEqual([404, 'unknown_claim']);
    expect(code(await poll(b, 'nope'))).toEqual([404, 'unknown_claim']);
    // Two refusals: the failure budget is spent, for polls and claims alike.
    expect(code(await poll(b, c))).toEqual([429, 'rate_limited']);
    expect(code(await post(b, CLAIM_PATH, claimBody(fork())))).toEqual([429, 'rate_limited']);

    const other = await broker({
      config: configText(
        'rate_limit: { per_address: 3, failures_per_address: 0, claims_per_address: 0, claims_per_run: 0 }',
      ),
    });
    const g = serve(fork());
    const d = await claimFor(other, g);
    upload(g, d.challenge);
    expect((await poll(other, d)).status).toBe(200);
    expect((await poll(other, d)).status).toBe(409);
    expect((await poll(other, d)).status).toBe(409);
    expect(code(await poll(other, d))).toEqual([429, 'rate_limited']);
  });
});

describe('claims outlive a restart, and are single-use across one', () => {
  it('a pending claim is redeemed by the next broker on the data dir, and never again', async () => {
    const dataDir = join(dir, 'restart');
    const first = await broker({ dataDir });
    const f = serve(fork());
    const c = await claimFor(first, f);
    expect((await poll(first, c)).status).toBe(202);
    await first.close();

    const second = await broker({ dataDir });
    upload(f, c.challenge);
    const ok = await poll(second, c);
    expect(ok.status, ok.text).toBe(200);
    expect(gh.asked.run).toBe(1); // the checked run was kept with the claim
    await second.close();

    const third = await broker({ dataDir });
    expect(code(await poll(third, c))).toEqual([409, 'claim_used']);
    // A refusal is final across a restart too.
    const g = fork();
    const d = await claimFor(third, g);
    expect(code(await poll(third, d))).toEqual([403, 'run_not_found']);
    await third.close();
    const fourth = await broker({ dataDir });
    serve(g);
    expect(code(await poll(fourth, d))).toEqual([403, 'run_not_found']);
  });

  it('concurrent polls: exactly one mints', async () => {
    const b = await broker();
    const f = serve(fork());
    const c = await claimFor(b, f);
    upload(f, c.challenge);
    const all = await Promise.all([poll(b, c), poll(b, c), poll(b, c), poll(b, c)]);
    expect(all.filter((r) => r.status === 200)).toHaveLength(1);
    expect(all.every((r) => [200, 202, 409].includes(r.status))).toBe(true);
  });
});

describe('/metrics', () => {
  it('counts claims and exchanges by outcome, and GitHub requests', async () => {
    const b = await broker();
    const f = serve(fork());
    const c = await claimFor(b, f);
    expect((await poll(b, c)).status).toBe(202);
    upload(f, c.challenge);
    advance(5_000);
    expect((await poll(b, c)).status).toBe(200);
    await poll(b, 'nope');
    const text = await (await b.app.request('/metrics')).text();
    expect(text).toContain('broker_fork_claims_total{endpoint="claim",outcome="ok"} 1');
    expect(text).toContain('broker_fork_claims_total{endpoint="exchange",outcome="pending"} 1');
    expect(text).toContain('broker_fork_claims_total{endpoint="exchange",outcome="ok"} 1');
    expect(text).toContain('broker_fork_claims_total{endpoint="exchange",outcome="unknown_claim"} 1');
    expect(text).toContain('broker_github_requests_total{request="run_attempt",outcome="ok"} 1');
    expect(text).toContain('broker_github_requests_total{request="artifacts",outcome="ok"} 2');
  });
});
