// `oidc: true` through shared/'s token resolution, with the runner's OIDC endpoint and the broker faked by msw.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { UserError } from '../../../shared/errors';
import { defaultTokenDeps } from '../../../shared/token';
import type { GithubContext } from '../../../shared/github';
import { parseFileCommand } from '../../../test/support/runner';
import { exportProjectToken } from './project-token';
import { githubContext } from '../../../test/support/github-context';

const RUNTIME = 'http://runtime.test/idtoken';
const BROKER = 'https://broker.test';
const PROJECT_TOKEN = 'eyJhbGciOiJFUzI1NiJ9.project-token-for-web.sig';

const server = setupServer();
let requests: string[];
server.events.on('request:start', ({ request }) => requests.push(`${request.method} ${request.url}`));
beforeAll(() => {
  server.listen({ onUnhandledRequest: 'error' });
  syncBuiltinESMExports();
});
afterAll(() => server.close());

let dir: string;
let envFile: string;
let out: string;
let warnings: string[];
let issued: string[];
let posted: unknown[];

beforeEach(() => {
  requests = [];
  warnings = [];
  issued = [];
  posted = [];
  out = '';
  dir = mkdtempSync(join(tmpdir(), 'setup-token-'));
  envFile = join(dir, 'env');
  writeFileSync(envFile, '');
  vi.stubEnv('GITHUB_ENV', envFile);
  vi.stubEnv('DEPOT_TOKEN', undefined);
  vi.stubEnv('DEPOT_BROKER_URL', undefined);
  vi.stubEnv('DEPOT_PROJECT_ID', undefined);
  vi.stubEnv('DEPOT_OIDC_AUDIENCE', undefined);
  vi.stubEnv('ACTIONS_ID_TOKEN_REQUEST_URL', `${RUNTIME}?api-version=2.0`);
  vi.stubEnv('ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'runtime-secret');
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  server.use(
    http.get(RUNTIME, ({ request }) => {
      if (request.headers.get('authorization') !== 'Bearer runtime-secret')
        return new HttpResponse(null, { status: 401 });
      const value = `oidc.${new URL(request.url).searchParams.get('audience')}.${issued.length + 1}`;
      issued.push(value);
      return HttpResponse.json({ value });
    }),
    http.post(`${BROKER}/auth/oidc/github-actions`, async ({ request }) => {
      posted.push(await request.json());
      return HttpResponse.json({
        ok: true,
        token: PROJECT_TOKEN,
        project: 'web',
        isolated: false,
        expiresAt: '2026-11-30T12:00:00.000Z',
      });
    }),
  );
});
afterEach(() => {
  server.resetHandlers();
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  rmSync(dir, { recursive: true, force: true });
});

const github = (over: Partial<GithubContext> = {}): GithubContext =>
  githubContext({ sha: 'abc', runId: '1', ...over });

const deps = (over: Partial<GithubContext> = {}) => ({
  ...defaultTokenDeps(github(over)),
  sleep: () => Promise.resolve(),
  log: { info: () => undefined, debug: () => undefined, warning: (m: string) => warnings.push(m) },
});

const inputs = (over: Record<string, string | number> = {}) => ({
  project: '',
  'broker-url': '',
  'oidc-audience': '',
  'fork-wait': 60,
  ...over,
});

const exported = () => parseFileCommand(readFileSync(envFile, 'utf8'));
/** What was printed, without the `::add-mask::` lines the runner swallows. */
const printed = () =>
  out
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');

describe('exportProjectToken', () => {
  it('exchanges the OIDC token for the broker audience and exports DEPOT_TOKEN, masked', async () => {
    const got = await exportProjectToken(inputs({ project: 'web', 'broker-url': BROKER }), deps());
    expect(got).toEqual({ exported: true, source: 'oidc', project: 'web', isolated: false });
    expect(issued).toEqual([`oidc.${BROKER}.1`]);
    expect(posted).toEqual([{ token: issued[0], project: 'web' }]);
    expect(exported()).toEqual({ DEPOT_TOKEN: PROJECT_TOKEN });
    expect(out).toContain(`::add-mask::${PROJECT_TOKEN}\n`);
    expect(printed()).not.toContain(PROJECT_TOKEN);
    expect(printed()).not.toContain(issued[0]);
  });

  it('takes the broker URL, project and audience from the env when the inputs are empty', async () => {
    vi.stubEnv('DEPOT_BROKER_URL', `${BROKER}/`);
    vi.stubEnv('DEPOT_PROJECT_ID', 'web');
    vi.stubEnv('DEPOT_OIDC_AUDIENCE', 'depot-audience');
    await exportProjectToken(inputs(), deps());
    expect(issued).toEqual(['oidc.depot-audience.1']);
    expect(posted).toEqual([{ token: issued[0], project: 'web' }]);
    expect(exported().DEPOT_TOKEN).toBe(PROJECT_TOKEN);
  });

  it('a DEPOT_TOKEN the job already has wins: no exchange, nothing exported again', async () => {
    vi.stubEnv('DEPOT_TOKEN', 'existing-token-1234');
    const got = await exportProjectToken(inputs({ 'broker-url': BROKER }), deps());
    expect(got).toEqual({ exported: false, reason: 'DEPOT_TOKEN is already set for this job' });
    expect(requests).toEqual([]);
    expect(exported()).toEqual({});
  });

  it('no broker, no project: one warning, nothing exported, no request', async () => {
    const got = await exportProjectToken(inputs(), deps());
    expect(got.exported).toBe(false);
    expect(warnings).toEqual([
      'DEPOT_TOKEN not exported: no token, broker URL or project is set; builds run without the project cache.',
    ]);
    expect(requests).toEqual([]);
    expect(exported()).toEqual({});
  });

  const fork = {
    eventName: 'pull_request',
    fromFork: true,
    untrustedForkPullRequest: true,
    pullRequestNumber: 12,
    headRepository: 'evil/web',
  };

  it('a pull request from a fork without a broker URL: no OIDC token asked, a warning that the URL must be literal', async () => {
    const got = await exportProjectToken(inputs({ project: 'web' }), deps(fork));
    expect(got.exported).toBe(false);
    expect(warnings).toEqual([
      'DEPOT_TOKEN not exported: pull request #12 from fork evil/web gets no OIDC token and no broker URL is set, so no isolated project token: fork runs get no `vars`, so write the broker URL literally in the workflow (`env: DEPOT_BROKER_URL: https://...`); builds run without the project cache.',
    ]);
    expect(requests).toEqual([]);
    expect(exported()).toEqual({});
  });

  describe('a pull request from a fork with a broker URL: the claim flow', () => {
    const CLAIM_ID = 'claimIdSecret_0123456A';
    const FORK_TOKEN = 'eyJhbGciOiJFUzI1NiJ9.isolated-for-evil.sig';
    let uploaded: string[];
    let infos: string[];
    const forkDeps = () => ({
      ...deps(fork),
      uploadArtifact: async (name: string) => void uploaded.push(name),
      now: () => 0,
      attempts: 2,
      log: {
        info: (m: string) => void infos.push(m),
        debug: () => undefined,
        warning: (m: string) => warnings.push(m),
      },
    });
    const claim = () =>
      http.post(`${BROKER}/auth/oidc/public/claim`, () =>
        HttpResponse.json(
          {
            ok: true,
            claimId: CLAIM_ID,
            challenge: 'challengePublic_012345',
            expiresAt: '2026-11-30T12:05:00.000Z',
          },
          { status: 201 },
        ),
      );
    beforeEach(() => {
      uploaded = [];
      infos = [];
    });

    it('exports the isolated DEPOT_TOKEN like an OIDC one, masked, and says why it is isolated', async () => {
      server.use(
        claim(),
        http.post(`${BROKER}/auth/oidc/public/exchange`, () =>
          HttpResponse.json({
            ok: true,
            token: FORK_TOKEN,
            project: 'web',
            isolated: true,
            expiresAt: '2026-11-30T12:05:00.000Z',
          }),
        ),
      );
      const got = await exportProjectToken(inputs({ 'broker-url': BROKER }), forkDeps());
      expect(got).toEqual({ exported: true, source: 'fork-claim', project: 'web', isolated: true });
      expect(exported()).toEqual({ DEPOT_TOKEN: FORK_TOKEN });
      expect(uploaded).toEqual(['depot-claim-challengePublic_012345']);
      expect(issued).toEqual([]);
      expect(out).toContain(`::add-mask::${FORK_TOKEN}\n`);
      expect(out).toContain(`::add-mask::${CLAIM_ID}\n`);
      expect(infos).toContain(
        'Exported an isolated DEPOT_TOKEN (masked) for the following steps: pull request #12 from fork evil/web; the project cache is neither read nor written.',
      );
      for (const line of [printed(), ...infos, ...warnings]) {
        expect(line).not.toContain(FORK_TOKEN);
        expect(line).not.toContain(CLAIM_ID);
      }
    });

    it.each([
      [
        'fork-wait spent',
        () => HttpResponse.json({ ok: false, status: 'pending', retryAfter: 5 }, { status: 202 }),
        'Fork claim failed: the broker did not see the claim artifact depot-claim-challengePublic_012345 within fork-wait (0 s, 1 poll).',
      ],
      [
        'the broker unreachable',
        () => HttpResponse.error(),
        `Fork claim failed: cannot reach the broker at ${BROKER} (Failed to fetch); fork-wait (0 s) is spent after 1 poll.`,
      ],
      [
        'a refusal',
        () =>
          HttpResponse.json(
            { ok: false, error: { code: 'claim_expired', message: 'too late' } },
            { status: 410 },
          ),
        'The broker refused the fork claim exchange (410 claim_expired): too late',
      ],
    ])(
      '%s fails the step in one line (setup has no fallback) and exports nothing',
      async (_n, answer, message) => {
        server.use(claim(), http.post(`${BROKER}/auth/oidc/public/exchange`, answer));
        const err: unknown = await exportProjectToken(
          inputs({ 'broker-url': BROKER, 'fork-wait': 0 }),
          forkDeps(),
        ).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(UserError);
        expect((err as Error).message).toContain(message);
        expect((err as Error).message).not.toContain('\n');
        expect((err as Error).message).not.toContain(CLAIM_ID);
        expect(exported()).toEqual({});
      },
    );
  });

  it.each([
    [
      'a broker refusal',
      () =>
        server.use(
          http.post(`${BROKER}/auth/oidc/github-actions`, () =>
            HttpResponse.json(
              { ok: false, error: { code: 'no_trust_relationship', message: 'no rule matches acme/web' } },
              { status: 403 },
            ),
          ),
        ),
      inputs({ project: 'web', 'broker-url': BROKER }),
      'The broker refused the token exchange (403 no_trust_relationship): no rule matches acme/web',
    ],
    [
      'a project without a broker URL',
      () => undefined,
      inputs({ project: 'web' }),
      'Project "web" is set but no broker URL: set the `broker-url` input or the DEPOT_BROKER_URL env variable',
    ],
    [
      'no id-token permission',
      () => vi.stubEnv('ACTIONS_ID_TOKEN_REQUEST_URL', undefined),
      inputs({ 'broker-url': BROKER }),
      'This job cannot request an OIDC token: add `permissions: id-token: write` to the job',
    ],
  ])('%s fails the step in one line and exports nothing', async (_name, arrange, given, message) => {
    arrange();
    const err: unknown = await exportProjectToken(given, deps()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain(message);
    expect(exported()).toEqual({});
    for (const t of issued) expect((err as Error).message).not.toContain(t);
  });
});
