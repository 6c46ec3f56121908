// A CI job's project token through Session.open: the order of sources, each CI's OIDC token (the exact argv of
// `circleci` and `buildkite-agent`, through the session's exec seam), the per-job cache, every exchange outcome as
// the exit status and one line it becomes, untrusted builds, and no secret in any output. The broker is msw,
// failing on any request it was not told about.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { CommandNotFound } from '../../shared/exec';
import type { ExecOptions, ExecResult } from '../../shared/exec';
import { projectToken } from '../test/tokens';
import { sameRepository } from './ci';
import { EXIT_UNAVAILABLE, UnavailableError, UserError } from './errors';
import { setDebug } from './log';
import { runCleanups } from './process';
import { Session } from './session';
import type { SessionDeps, SessionOptions } from './session';
import { TokenCache } from './token-cache';

const BROKER = 'https://broker.test';
const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

interface Posted {
  provider: string;
  body: { token: string; project?: string };
}
interface Call {
  command: string;
  args: readonly string[];
  opts: ExecOptions | undefined;
}

let dir: string;
let posted: Posted[];
let calls: Call[];
let minted: string[];
let sleeps: number[];
let output: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'depot-ci-token-'));
  posted = [];
  calls = [];
  minted = [];
  sleeps = [];
  output = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    output += String(chunk);
    return true;
  });
  setDebug(true);
});
afterEach(() => {
  setDebug(false);
  vi.restoreAllMocks();
  runCleanups();
});

/** A fake exec: each call of a CI's CLI mints a fresh (secret) OIDC token. */
function fakeExec(result: Partial<ExecResult> | Error = {}): SessionDeps['exec'] {
  return (command, args, opts) => {
    calls.push({ command, args, opts });
    if (result instanceof Error) return Promise.reject(result);
    const token = `ci-oidc-${calls.length}-s3cr3t-${Math.random().toString(36).slice(2)}`;
    minted.push(token);
    return Promise.resolve({ exitCode: 0, stdout: `${token}\n`, lastStderrLine: '', ...result });
  };
}

function deps(over: Partial<SessionDeps> = {}): Partial<SessionDeps> {
  return {
    exec: fakeExec(),
    fetch: globalThis.fetch,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    now: Date.now,
    ...over,
  };
}

function env(ci: Record<string, string>, over: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    HOME: dir,
    RUNNER_TEMP: dir,
    DEPOT_CACHE_DIR: join(dir, 'cache'),
    DEPOT_BROKER_URL: BROKER,
    ...ci,
    ...over,
  };
}

const CIRCLE = { CIRCLECI: 'true', CIRCLE_WORKFLOW_JOB_ID: 'job-c1', CIRCLE_PROJECT_REPONAME: 'web' };
const GITLAB = {
  GITLAB_CI: 'true',
  CI_JOB_ID: '4242',
  DEPOT_OIDC_TOKEN: 'gitlab-oidc-s3cr3t-token-value',
};
const BUILDKITE = {
  BUILDKITE: 'true',
  BUILDKITE_JOB_ID: 'bk-job-1',
  BUILDKITE_REPO: 'git@github.com:acme/web.git',
};

/** The broker answers in turn (the last one repeats); a grant is a real project token. */
function broker(...answers: Array<(p: Posted) => Response | Promise<Response>>) {
  let i = 0;
  server.use(
    http.post(`${BROKER}/auth/oidc/:provider`, async ({ request, params }) => {
      const p: Posted = {
        provider: String(params.provider),
        body: (await request.json()) as Posted['body'],
      };
      posted.push(p);
      const answer = answers[Math.min(i++, answers.length - 1)];
      return answer ? answer(p) : HttpResponse.error();
    }),
  );
}

const tokens: string[] = [];
const grant =
  (o: { project?: string; expiresIn?: number; isolated?: boolean } = {}) =>
  async (): Promise<Response> => {
    const token = await projectToken({
      project: o.project ?? 'web',
      ...(o.expiresIn !== undefined ? { expiresIn: o.expiresIn } : {}),
      ...(o.isolated ? { isolated: true } : {}),
    });
    tokens.push(token);
    return HttpResponse.json({
      ok: true,
      token,
      project: o.project ?? 'web',
      isolated: o.isolated ?? false,
      expiresAt: new Date((decodeJwt(token).exp ?? 0) * 1000).toISOString(),
    });
  };
const refuse =
  (status: number, code: string, message: string, requestId?: string, headers: Record<string, string> = {}) =>
  () =>
    HttpResponse.json(
      { ok: false, error: { code, message, ...(requestId ? { requestId } : {}) } },
      { status, headers },
    );

function open(e: NodeJS.ProcessEnv, over: Partial<SessionOptions> = {}, d = deps()): Promise<Session> {
  return Session.open({ env: e, deps: d, ...over });
}

async function failure(p: Promise<unknown>): Promise<UserError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof UserError)) throw new Error(`expected a UserError, got ${String(err)}`);
  return err;
}

/** No CI token, project token or GitLab token anywhere in what was printed or thrown. */
function expectNoSecret(...texts: string[]) {
  const all = [output, ...texts].join('\n');
  for (const secret of [...minted, ...tokens, GITLAB.DEPOT_OIDC_TOKEN]) expect(all).not.toContain(secret);
}

describe("each CI's OIDC token", () => {
  it('CircleCI: `circleci run oidc get --claims {"aud":<broker>}`, posted to /auth/oidc/circleci with the project', async () => {
    broker(grant());
    const s = await open(env(CIRCLE, { DEPOT_PROJECT_ID: 'web' }));
    expect(calls.map((c) => [c.command, ...c.args])).toEqual([
      ['circleci', 'run', 'oidc', 'get', '--claims', '{"aud":"https://broker.test"}'],
    ]);
    // stdout is parsed, never shown; nothing waits on stdin.
    expect(calls[0]?.opts).toMatchObject({ captureStdout: true, silent: true, stdin: 'ignore' });
    expect(posted).toEqual([{ provider: 'circleci', body: { token: minted[0], project: 'web' } }]);
    expect(s.token?.project).toBe('web');
    expect(s.project).toBe('web');
    expect(output).toContain(
      "exchanged this CircleCI job's OIDC token at https://broker.test for a project token (project web).",
    );
    expectNoSecret();
  });

  it('the audience is DEPOT_OIDC_AUDIENCE when set; the broker URL loses its trailing slash', async () => {
    broker(grant());
    await open(env(CIRCLE, { DEPOT_BROKER_URL: `${BROKER}/`, DEPOT_OIDC_AUDIENCE: 'depot-aud' }));
    expect(calls[0]?.args).toEqual(['run', 'oidc', 'get', '--claims', '{"aud":"depot-aud"}']);
    expect(posted[0]?.body).toEqual({ token: minted[0] }); // no project named: the broker picks
  });

  it('GitLab: $DEPOT_OIDC_TOKEN, posted to /auth/oidc/gitlab; runs nothing', async () => {
    broker(grant());
    const s = await open(env(GITLAB));
    expect(calls).toEqual([]);
    expect(posted).toEqual([{ provider: 'gitlab', body: { token: GITLAB.DEPOT_OIDC_TOKEN } }]);
    expect(s.token?.project).toBe('web');
    // buildx never sees the CI token.
    expect(s.env.DEPOT_OIDC_TOKEN).toBeUndefined();
    expectNoSecret();
  });

  it('GitLab without DEPOT_OIDC_TOKEN: one line naming the id_tokens entry, exit 1', async () => {
    const err = await failure(open(env({ ...GITLAB, DEPOT_OIDC_TOKEN: '' })));
    expect(err.message).toBe(
      'DEPOT_BROKER_URL is set but this GitLab CI job has no DEPOT_OIDC_TOKEN: add `id_tokens: DEPOT_OIDC_TOKEN: aud: https://broker.test` to the job.',
    );
    expect(err.exitCode).toBe(1);
    expect(posted).toEqual([]);
  });

  it('Buildkite: `buildkite-agent oidc request-token --audience <aud>`, posted to /auth/oidc/buildkite', async () => {
    broker(grant());
    await open(env(BUILDKITE));
    expect(calls.map((c) => [c.command, ...c.args])).toEqual([
      ['buildkite-agent', 'oidc', 'request-token', '--audience', BROKER],
    ]);
    expect(posted[0]?.provider).toBe('buildkite');
    expectNoSecret();
  });

  it('Buildkite with DEPOT_BUILDKITE_CLAIMS: adds --claim with its list', async () => {
    broker(grant());
    await open(env(BUILDKITE, { DEPOT_BUILDKITE_CLAIMS: 'organization_id, pipeline_id' }));
    expect(calls[0]?.args).toEqual([
      'oidc',
      'request-token',
      '--audience',
      BROKER,
      '--claim',
      'organization_id,pipeline_id',
    ]);
  });

  it('refuses a DEPOT_BUILDKITE_CLAIMS that is no list of claim names', async () => {
    const err = await failure(open(env(BUILDKITE, { DEPOT_BUILDKITE_CLAIMS: 'organization_id;rm -rf' })));
    expect(err.message).toContain('DEPOT_BUILDKITE_CLAIMS must be a comma-separated list of claim names');
    expect(calls).toEqual([]);
  });

  it.each([
    [
      'circleci not installed',
      CIRCLE,
      new CommandNotFound('circleci'),
      'DEPOT_BROKER_URL is set but circleci is not on PATH, so there is no CircleCI OIDC token: run the job on a CircleCI executor, which has the circleci CLI, or set DEPOT_TOKEN.',
    ],
    [
      'buildkite-agent not installed',
      BUILDKITE,
      new CommandNotFound('buildkite-agent'),
      'DEPOT_BROKER_URL is set but buildkite-agent is not on PATH, so there is no Buildkite OIDC token: run the job on a Buildkite agent, which has buildkite-agent on PATH, or set DEPOT_TOKEN.',
    ],
  ])('%s: one line, exit 1, nothing posted', async (_what, ci, error, message) => {
    const err = await failure(open(env(ci), {}, deps({ exec: fakeExec(error) })));
    expect(err.message).toBe(message);
    expect(err.exitCode).toBe(1);
    expect(posted).toEqual([]);
  });

  it('a failing `circleci run oidc get`: its last stderr line, exit 1, not retried', async () => {
    const exec = fakeExec({
      exitCode: 1,
      stdout: '',
      lastStderrLine: 'Error: OIDC is not enabled for this job',
    });
    const err = await failure(open(env(CIRCLE), {}, deps({ exec })));
    expect(err.message).toBe(
      '`circleci run oidc get` failed (exit 1: Error: OIDC is not enabled for this job), so there is no CircleCI OIDC token for the broker: check that the job may request OIDC tokens, or set DEPOT_TOKEN.',
    );
    expect(calls).toHaveLength(1);
    expect(posted).toEqual([]);
  });

  it('a broker URL outside any CI it knows: one line naming the fix, exit 1', async () => {
    const err = await failure(open(env({})));
    expect(err.message).toContain(
      'DEPOT_BROKER_URL is set but this job has no CI OIDC token to exchange (depot exchanges the OIDC token of CircleCI, GitLab CI and Buildkite jobs): set DEPOT_TOKEN (or --token), or unset DEPOT_BROKER_URL',
    );
    const gh = await failure(open(env({ GITHUB_ACTIONS: 'true' })));
    expect(gh.message).toContain('in GitHub Actions the setup action exchanges');
  });

  it.each([
    ['http on a public host', 'http://broker.example.com', 'is http:// on broker.example.com'],
    ['credentials', 'https://depot:hunter2@broker.test', 'carries a user name or password'],
    ['no URL', 'broker.test', 'DEPOT_BROKER_URL must be an https URL, got "broker.test".'],
  ])('refuses a DEPOT_BROKER_URL with %s before any CI token is asked for', async (_what, url, message) => {
    const err = await failure(open(env(CIRCLE, { DEPOT_BROKER_URL: url })));
    expect(err.message).toContain(message);
    expect(err.message).not.toContain('hunter2');
    expect(calls).toEqual([]);
  });
});

describe('the order: --token > DEPOT_TOKEN > the job cache > the exchange > none', () => {
  it('--token wins over DEPOT_TOKEN, and neither asks the CI or the broker', async () => {
    const flag = await projectToken({ project: 'api', cache: 'localhost:5001/cache/api' });
    const fromEnv = await projectToken({ project: 'web' });
    const s = await open(env(CIRCLE, { DEPOT_TOKEN: fromEnv }), { tokenFlag: flag });
    expect(s.token?.project).toBe('api');
    const t = await open(env(CIRCLE, { DEPOT_TOKEN: fromEnv }));
    expect(t.token?.project).toBe('web');
    expect(calls).toEqual([]);
    expect(posted).toEqual([]);
  });

  it('the job cache before the exchange: a second command in the same job exchanges nothing', async () => {
    broker(grant());
    const first = await open(env(CIRCLE, { DEPOT_PROJECT_ID: 'web' }));
    const second = await open(env(CIRCLE, { DEPOT_PROJECT_ID: 'web' }));
    expect(posted).toHaveLength(1);
    expect(calls).toHaveLength(1);
    expect(second.token?.raw).toBe(first.token?.raw);
    expect(output).toContain(
      'using the project token this CircleCI job got from https://broker.test (project web',
    );
    expectNoSecret();
  });

  it('no broker URL: today’s build with no project cache, asking nobody', async () => {
    const s = await open(env(CIRCLE, { DEPOT_BROKER_URL: '' }));
    expect(s.token).toBeUndefined();
    expect(s.note).toBeUndefined();
    expect(calls).toEqual([]);
  });

  it('a granted token for another project than the one named is refused', async () => {
    broker(grant({ project: 'api' }));
    const err = await failure(open(env(CIRCLE, { DEPOT_PROJECT_ID: 'web' })));
    expect(err.message).toContain('The project token is for project "api", but DEPOT_PROJECT_ID names "web"');
  });
});

describe('the per-job cache', () => {
  const cacheDir = () => join(dir, 'cache');
  const files = () => readdirSync(cacheDir()).filter((f) => f.endsWith('.json'));

  it('keeps the token in a 0600 file of a 0700 folder', async () => {
    broker(grant());
    await open(env(GITLAB));
    expect(statSync(cacheDir()).mode & 0o777).toBe(0o700);
    expect(files()).toHaveLength(1);
    expect(statSync(join(cacheDir(), files()[0] ?? '')).mode & 0o777).toBe(0o600);
  });

  it('defaults to $XDG_CACHE_HOME/depot, else ~/.cache/depot', async () => {
    broker(grant());
    await open(env(GITLAB, { DEPOT_CACHE_DIR: '', XDG_CACHE_HOME: join(dir, 'xdg') }));
    expect(readdirSync(join(dir, 'xdg', 'depot'))).toHaveLength(1);
    await open(env({ ...GITLAB, CI_JOB_ID: '4243' }, { DEPOT_CACHE_DIR: '' }));
    expect(readdirSync(join(dir, '.cache', 'depot'))).toHaveLength(1);
    expect(statSync(join(dir, '.cache', 'depot')).mode & 0o777).toBe(0o700);
  });

  it('the key is the job id, the broker URL and the project', async () => {
    broker(grant());
    await open(env(CIRCLE, { DEPOT_PROJECT_ID: 'web' }));
    await open(env({ ...CIRCLE, CIRCLE_WORKFLOW_JOB_ID: 'job-c2' }, { DEPOT_PROJECT_ID: 'web' }));
    await open(env(CIRCLE, { DEPOT_PROJECT_ID: 'web', DEPOT_BROKER_URL: 'https://broker.test/' }));
    expect(posted).toHaveLength(2); // the trailing slash is the same broker
    broker(grant({ project: 'api' }));
    await open(env(CIRCLE, { DEPOT_PROJECT_ID: 'api' }));
    expect(posted).toHaveLength(3);
    expect(files()).toHaveLength(3);
    const cache = new TokenCache(cacheDir(), false, Date.now);
    const key = { provider: 'circleci', jobId: 'job-c1', brokerUrl: BROKER, project: 'web' };
    expect(
      new Set([
        cache.fileOf(key),
        cache.fileOf({ ...key, jobId: 'job-c2' }),
        cache.fileOf({ ...key, brokerUrl: 'https://other.test' }),
        cache.fileOf({ ...key, project: 'api' }),
      ]).size,
    ).toBe(4);
  });

  it('a token with a minute or less left is not reused: its file is deleted and the job exchanges again', async () => {
    broker(grant({ expiresIn: 50 }), grant());
    await open(env(GITLAB));
    const [stale] = files();
    await open(env(GITLAB));
    expect(posted).toHaveLength(2);
    expect(files()).toHaveLength(1);
    expect(files()[0]).toBe(stale); // the same key, rewritten with the fresh token
    expect(output).toContain('TokenCache: removing');
  });

  it('deletes expired files of other jobs too', async () => {
    broker(grant());
    mkdirSync(cacheDir(), { recursive: true, mode: 0o700 });
    const other = join(cacheDir(), `project-token-${'a'.repeat(64)}.json`);
    writeFileSync(other, JSON.stringify({ token: await projectToken({ expiresIn: -10 }) }), { mode: 0o600 });
    const unrelated = join(cacheDir(), 'notes.txt');
    writeFileSync(unrelated, 'mine');
    await open(env(GITLAB));
    expect(existsSync(other)).toBe(false);
    expect(existsSync(unrelated)).toBe(true);
  });

  it.each([
    ['not JSON', '{{{'],
    ['no token', '{"tok": 1}'],
    ['not a project token', '{"token": "a.b.c"}'],
  ])('a corrupt file (%s) is ignored and removed, never an error', async (_what, content) => {
    broker(grant());
    const cache = new TokenCache(cacheDir(), false, Date.now);
    const file = cache.fileOf({ provider: 'gitlab', jobId: '4242', brokerUrl: BROKER, project: '' });
    mkdirSync(cacheDir(), { recursive: true, mode: 0o700 });
    writeFileSync(file, content, { mode: 0o600 });
    const s = await open(env(GITLAB));
    expect(s.token?.project).toBe('web');
    expect(posted).toHaveLength(1);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ token: s.token?.raw });
  });

  it('an unwritable cache folder is a warning, not a failure', async () => {
    broker(grant());
    writeFileSync(join(dir, 'file'), '');
    const s = await open(env(GITLAB, { DEPOT_CACHE_DIR: join(dir, 'file', 'cache') }));
    expect(s.token?.project).toBe('web');
    expect(output).toContain('warning: could not keep the project token for the rest of this job in');
  });

  it('a job with no job id exchanges every time and caches nothing', async () => {
    broker(grant());
    await open(env({ ...GITLAB, CI_JOB_ID: '' }));
    await open(env({ ...GITLAB, CI_JOB_ID: '' }));
    expect(posted).toHaveLength(2);
    expect(existsSync(cacheDir())).toBe(false);
  });
});

describe('each exchange outcome: its exit status and one line', () => {
  it.each([
    [401, 'bad_audience', 'aud is not https://broker.test'],
    [403, 'no_trust_relationship', 'no rule matches'],
    [409, 'ambiguous_project', 'projects web and api match: name one'],
  ])('%s %s: exit 1 with the code and the request id, never retried', async (status, code, message) => {
    broker(refuse(status, code, message, 'req-7f3a'));
    const err = await failure(open(env(CIRCLE)));
    expect(err).not.toBeInstanceOf(UnavailableError);
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe(
      `The broker at https://broker.test refused the token exchange (${status} ${code}, request id req-7f3a): ${message}`,
    );
    expect(posted).toHaveLength(1);
    expectNoSecret(err.message);
  });

  it('the request id from the X-Request-Id header when the body has none', async () => {
    broker(refuse(403, 'no_trust_relationship', 'no', undefined, { 'x-request-id': 'hdr-1' }));
    const err = await failure(open(env(CIRCLE)));
    expect(err.message).toContain('(403 no_trust_relationship, request id hdr-1)');
  });

  it('a refusal that echoes the CI token never prints it', async () => {
    broker((p) => refuse(401, 'malformed_token', `bad token ${p.body.token}`)());
    const err = await failure(open(env(GITLAB)));
    expect(err.message).toContain('malformed_token');
    expectNoSecret(err.message);
  });

  it('5xx on every try: exit 69 after bounded retries, a fresh CI token each try', async () => {
    broker(refuse(503, 'jwks_unavailable', 'keys down', 'req-9'));
    const err = await failure(open(env(CIRCLE)));
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.exitCode).toBe(EXIT_UNAVAILABLE);
    expect(err.message).toBe(
      'Token exchange failed: the broker answered 503 jwks_unavailable, request id req-9: keys down after 4 tries; no build was started (set DEPOT_TOKEN, or unset DEPOT_BROKER_URL to build with no project cache).',
    );
    expect(posted).toHaveLength(4);
    expect(calls).toHaveLength(4);
    expect(new Set(posted.map((p) => p.body.token)).size).toBe(4);
    expect(posted.map((p) => p.body.token)).toEqual(minted);
    expect(sleeps).toEqual([1000, 2000, 4000]);
    expectNoSecret(err.message);
  });

  it('429 honours Retry-After, then succeeds', async () => {
    broker(refuse(429, 'rate_limited', 'slow down', undefined, { 'retry-after': '7' }), grant());
    const s = await open(env(BUILDKITE));
    expect(s.token?.project).toBe('web');
    expect(sleeps).toEqual([7000]);
    expect(calls).toHaveLength(2);
  });

  it('an unreachable broker: exit 69 naming it', async () => {
    broker(() => HttpResponse.error());
    const err = await failure(open(env(GITLAB), {}, deps({ attempts: 2 })));
    expect(err.exitCode).toBe(EXIT_UNAVAILABLE);
    expect(err.message).toMatch(
      /^Token exchange failed: cannot reach the broker at https:\/\/broker\.test \(.+\) after 2 tries; no build was started/,
    );
  });

  it('a 200 that is no grant: exit 1', async () => {
    broker(() => HttpResponse.json({ hello: 'world' }));
    const err = await failure(open(env(GITLAB)));
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe('The broker at https://broker.test answered 200 without a project token.');
  });

  it('a grant that is no project token: exit 1, saying where it came from', async () => {
    broker(() =>
      HttpResponse.json({
        ok: true,
        token: 'x.y.z',
        project: 'web',
        isolated: false,
        expiresAt: '2030-01-01T00:00:00Z',
      }),
    );
    const err = await failure(open(env(GITLAB)));
    expect(err.message).toMatch(/^The token the broker at https:\/\/broker\.test minted is not a JWT/);
  });

  it('an isolated grant: the session has an isolated token', async () => {
    broker(grant({ isolated: true }));
    const s = await open(env(GITLAB));
    expect(s.token?.isolated).toBe(true);
    expect(output).toContain('(project web, isolated)');
  });
});

describe('untrusted builds never exchange and build with no project cache, saying so in one line', () => {
  it.each([
    [
      'a GitLab merge request from a fork',
      { ...GITLAB, CI_MERGE_REQUEST_SOURCE_PROJECT_ID: '77', CI_MERGE_REQUEST_PROJECT_ID: '12' },
      'this GitLab CI job builds a merge request from a fork (project 77) into project 12',
    ],
    [
      'a CircleCI pull request from a fork (CIRCLE_PR_NUMBER)',
      { ...CIRCLE, CIRCLE_PR_NUMBER: '9', CIRCLE_PR_USERNAME: 'mallory', CIRCLE_PR_REPONAME: 'web' },
      'this CircleCI job builds a pull request from a fork (#9, mallory/web)',
    ],
    [
      'a CircleCI pull request from a renamed fork (CIRCLE_PR_REPONAME)',
      { ...CIRCLE, CIRCLE_PR_REPONAME: 'web-fork' },
      'this CircleCI job builds a pull request from a fork (web-fork)',
    ],
    [
      'a Buildkite pull request from another repository',
      { ...BUILDKITE, BUILDKITE_PULL_REQUEST_REPO: 'https://tok:en@github.com/mallory/web.git' },
      'this Buildkite job builds a pull request from another repository (https://***@github.com/mallory/web.git)',
    ],
  ])('%s', async (_what, ci, why) => {
    const s = await open(env(ci));
    expect(s.token).toBeUndefined();
    expect(s.note).toBe(
      `${why}: untrusted builds never exchange a CI token, so this build runs with no project cache.`,
    );
    expect(calls).toEqual([]);
    expect(posted).toEqual([]);
  });

  it.each([
    [
      'a GitLab merge request within the project',
      { ...GITLAB, CI_MERGE_REQUEST_SOURCE_PROJECT_ID: '12', CI_MERGE_REQUEST_PROJECT_ID: '12' },
    ],
    [
      'a Buildkite pull request from the same repository',
      { ...BUILDKITE, BUILDKITE_PULL_REQUEST_REPO: 'https://github.com/acme/web' },
    ],
    ['a CircleCI pull request from the same repository', { ...CIRCLE, CIRCLE_PR_REPONAME: 'web' }],
  ])('%s exchanges', async (_what, ci) => {
    broker(grant());
    const s = await open(env(ci));
    expect(s.token?.project).toBe('web');
  });

  it('tells one repository from another whatever URL form it is written in', () => {
    expect(sameRepository('git@github.com:acme/web.git', 'https://github.com/acme/web')).toBe(true);
    expect(sameRepository('ssh://git@github.com/acme/web.git', 'https://github.com/Acme/web/')).toBe(true);
    expect(sameRepository('ssh://git@host:2222/acme/web.git', 'git@host:acme/web')).toBe(false);
    expect(sameRepository('https://github.com/mallory/web', 'https://github.com/acme/web')).toBe(false);
  });
});
