import { http, HttpResponse } from 'msw';
import { useMswServer } from '../test/support/msw';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BrokerRefusal, resolveToken, retryAfterMs } from './token';
import type { TokenDeps, TokenRequest } from './token';
import * as core from '@actions/core';
import { githubContext } from '../test/support/github-context';

const RUNTIME = 'http://runtime.test/idtoken?api-version=2.0';
const BROKER = 'https://broker.test';

const server = useMswServer();

let issued: string[];
let audiences: string[];
let posted: Array<{ token: string; project?: string }>;
let sleeps: number[];
let masked: string[];

beforeEach(() => {
  issued = [];
  audiences = [];
  posted = [];
  sleeps = [];
  masked = [];
  // core.setSecret prints `::add-mask::<value>`, which the runner reads from stdout.
  const write = process.stdout.write.bind(process.stdout);
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const m = /^::add-mask::(.*)$/m.exec(String(chunk));
    if (m?.[1]) {
      masked.push(m[1]);
      return true;
    }
    return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
  });
  server.use(
    http.get('http://runtime.test/idtoken', ({ request }) => {
      const url = new URL(request.url);
      expect(request.headers.get('authorization')).toBe('Bearer runtime-secret');
      audiences.push(url.searchParams.get('audience') ?? '');
      const token = `oidc-${issued.length + 1}-${Math.random().toString(36).slice(2)}`;
      issued.push(token);
      return HttpResponse.json({ value: token });
    }),
  );
});
afterEach(() => vi.restoreAllMocks());

const github = githubContext;

function deps(env: Record<string, string> = {}, over: Partial<TokenDeps> = {}): TokenDeps {
  return {
    env: {
      ACTIONS_ID_TOKEN_REQUEST_URL: RUNTIME,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runtime-secret',
      ...env,
    },
    github: github(),
    getIDToken: async (aud) => {
      vi.stubEnv('ACTIONS_ID_TOKEN_REQUEST_URL', RUNTIME);
      vi.stubEnv('ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'runtime-secret');
      return core.getIDToken(aud);
    },
    fetch: globalThis.fetch,
    sleep: async (ms) => void sleeps.push(ms),
    log: { info: () => {}, warning: () => {}, debug: () => {} },
    ...over,
  };
}

const req = (over: Partial<TokenRequest> = {}): TokenRequest => ({
  token: '',
  project: '',
  brokerUrl: '',
  audience: '',
  buildxFallback: false,
  forkWait: 60,
  ...over,
});

function broker(...answers: Array<() => Response>) {
  let i = 0;
  server.use(
    http.post(`${BROKER}/auth/oidc/github-actions`, async ({ request }) => {
      posted.push((await request.json()) as { token: string; project?: string });
      const answer = answers[Math.min(i++, answers.length - 1)] as () => Response;
      return answer();
    }),
  );
}

const granted = () =>
  HttpResponse.json({
    ok: true,
    token: 'project-token-xyz',
    project: 'web',
    isolated: false,
    expiresAt: '2026-11-30T12:00:00.000Z',
  });
const refused = (status: number, code: string, message: string) => () =>
  HttpResponse.json({ ok: false, error: { code, message } }, { status });

describe('the order: token input > DEPOT_TOKEN > OIDC exchange > fork path > none', () => {
  it('uses the token input, masks it, and asks nobody', async () => {
    const r = await resolveToken(
      req({ token: 'tok-input', brokerUrl: BROKER }),
      deps({ DEPOT_TOKEN: 'tok-env' }),
    );
    expect(r).toEqual({ kind: 'token', token: 'tok-input', source: 'input' });
    expect(masked).toContain('tok-input');
    expect(issued).toHaveLength(0);
  });

  it('then DEPOT_TOKEN', async () => {
    const r = await resolveToken(req({ brokerUrl: BROKER }), deps({ DEPOT_TOKEN: 'tok-env' }));
    expect(r).toMatchObject({ kind: 'token', token: 'tok-env', source: 'env' });
    expect(masked).toContain('tok-env');
  });

  it('with no token, broker URL or project: no project cache', async () => {
    expect(await resolveToken(req(), deps())).toMatchObject({ kind: 'no-project' });
    expect(issued).toHaveLength(0);
  });

  const forkPr = () =>
    github({
      eventName: 'pull_request',
      untrustedForkPullRequest: true,
      fromFork: true,
      pullRequestNumber: 12,
      headRepository: 'mallory/web',
    });

  it('a fork pull request with a broker URL takes the claim flow, never the OIDC exchange', async () => {
    const claimed: unknown[] = [];
    server.use(
      http.post(`${BROKER}/auth/oidc/public/claim`, async ({ request }) => {
        claimed.push(await request.json());
        return HttpResponse.json(
          {
            ok: true,
            claimId: 'claimIdSecret_0123456A',
            challenge: 'challengePublic_012345',
            expiresAt: '2026-11-30T12:05:00.000Z',
          },
          { status: 201 },
        );
      }),
      http.post(`${BROKER}/auth/oidc/public/exchange`, () =>
        HttpResponse.json({
          ok: true,
          token: 'fork-token-1',
          project: 'web',
          isolated: true,
          expiresAt: '2026-11-30T12:05:00.000Z',
        }),
      ),
    );
    const uploaded: string[] = [];
    const d = deps(
      { DEPOT_BROKER_URL: BROKER },
      { github: forkPr(), uploadArtifact: async (name) => void uploaded.push(name), now: () => 0 },
    );
    const r = await resolveToken(req({ project: 'web' }), d);
    expect(r).toMatchObject({ kind: 'token', source: 'fork-claim', isolated: true, token: 'fork-token-1' });
    expect(uploaded).toEqual(['depot-claim-challengePublic_012345']);
    expect(claimed).toHaveLength(1);
    expect(masked).toEqual(expect.arrayContaining(['claimIdSecret_0123456A', 'fork-token-1']));
    expect(issued).toHaveLength(0);
  });

  it.each([false, true])(
    'a fork pull request without a broker URL: no project cache, saying the URL must be written literally (buildx-fallback %s)',
    async (fb) => {
      const r = await resolveToken(
        req({ project: 'web', buildxFallback: fb }),
        deps({}, { github: forkPr() }),
      );
      expect(r).toEqual({
        kind: 'no-project',
        reason:
          'pull request #12 from fork mallory/web gets no OIDC token and no broker URL is set, so no isolated project token: fork runs get no `vars`, so write the broker URL literally in the workflow (`env: DEPOT_BROKER_URL: https://...`)',
      });
      expect(issued).toHaveLength(0);
    },
  );
});

describe('the OIDC exchange', () => {
  it('posts a fresh OIDC token with the project; audience defaults to the broker URL without its slash', async () => {
    broker(granted);
    const r = await resolveToken(req({ brokerUrl: `${BROKER}/`, project: 'web' }), deps());
    expect(r).toEqual({
      kind: 'token',
      token: 'project-token-xyz',
      source: 'oidc',
      project: 'web',
      isolated: false,
      expiresAt: '2026-11-30T12:00:00.000Z',
    });
    expect(audiences).toEqual([BROKER]);
    expect(posted).toEqual([{ token: issued[0], project: 'web' }]);
    expect(masked).toEqual(expect.arrayContaining(['project-token-xyz', issued[0]]));
  });

  it('reads DEPOT_BROKER_URL, DEPOT_PROJECT_ID and DEPOT_OIDC_AUDIENCE; inputs win', async () => {
    broker(granted);
    const env = { DEPOT_BROKER_URL: BROKER, DEPOT_PROJECT_ID: 'api', DEPOT_OIDC_AUDIENCE: 'aud-env' };
    await resolveToken(req(), deps(env));
    await resolveToken(req({ audience: 'aud-input', project: 'web' }), deps(env));
    expect(audiences).toEqual(['aud-env', 'aud-input']);
    expect(posted.map((p) => p.project)).toEqual(['api', 'web']);
  });

  it('sends no project when none is named (the broker picks the one whose rules match)', async () => {
    broker(granted);
    await resolveToken(req({ brokerUrl: BROKER }), deps());
    expect(posted[0]).toEqual({ token: issued[0] });
  });

  it.each([
    [401, 'bad_audience', 'aud does not contain http://x'],
    [403, 'no_trust_relationship', 'no rule of project web matches repository acme/web'],
    [409, 'ambiguous_project', 'projects web and api match: name one'],
    [413, 'token_too_large', 'token over 8 KiB'],
  ])(
    'a %s refusal fails with the broker code and message, even with buildx-fallback',
    async (status, code, msg) => {
      broker(refused(status, code, msg));
      const p = resolveToken(req({ brokerUrl: BROKER, buildxFallback: true }), deps());
      await expect(p).rejects.toBeInstanceOf(BrokerRefusal);
      await expect(p).rejects.toThrow(`The broker refused the token exchange (${status} ${code}): ${msg}`);
      expect(posted).toHaveLength(1);
    },
  );

  it('retries 5xx and network errors with a fresh OIDC token each time, then succeeds', async () => {
    broker(() => HttpResponse.error(), refused(503, 'jwks_unavailable', 'keys down'), granted);
    const r = await resolveToken(req({ brokerUrl: BROKER }), deps());
    expect(r.kind).toBe('token');
    expect(issued).toHaveLength(3);
    // Every try posted its own OIDC token: the broker accepts each jti once.
    expect(posted.map((p) => p.token)).toEqual(issued);
    expect(new Set(issued).size).toBe(3);
    expect(sleeps).toEqual([1000, 2000]);
  });

  it('retries 503 state_unavailable (the broker could not record the jti: the token is still unused) with a fresh token', async () => {
    broker(
      refused(503, 'state_unavailable', 'the broker could not record this request: retry shortly'),
      granted,
    );
    const r = await resolveToken(req({ brokerUrl: BROKER }), deps());
    expect(r.kind).toBe('token');
    expect(posted.map((p) => p.token)).toEqual(issued);
    expect(new Set(issued).size).toBe(2);
  });

  it('honours Retry-After on 429', async () => {
    broker(
      () =>
        HttpResponse.json(
          { ok: false, error: { code: 'rate_limited', message: 'slow down' } },
          {
            status: 429,
            headers: { 'retry-after': '7' },
          },
        ),
      granted,
    );
    await resolveToken(req({ brokerUrl: BROKER }), deps());
    expect(sleeps).toEqual([7000]);
  });

  it('gives up after a bounded number of tries: fails, or falls back with buildx-fallback', async () => {
    broker(refused(502, 'bad_gateway', 'upstream'));
    await expect(resolveToken(req({ brokerUrl: BROKER }), deps())).rejects.toThrow(
      `Token exchange failed: the broker answered 502 bad_gateway: upstream after 4 tries.`,
    );
    expect(posted).toHaveLength(4);
    expect(sleeps).toEqual([1000, 2000, 4000]);
    const r = await resolveToken(req({ brokerUrl: BROKER, buildxFallback: true }), deps());
    expect(r).toMatchObject({ kind: 'fallback' });
  });

  it('an unreachable broker: fails naming it, or falls back', async () => {
    broker(() => HttpResponse.error());
    await expect(resolveToken(req({ brokerUrl: BROKER }), deps({}, { attempts: 2 }))).rejects.toThrow(
      /cannot reach the broker at https:\/\/broker\.test/,
    );
    expect(
      await resolveToken(req({ brokerUrl: BROKER, buildxFallback: true }), deps({}, { attempts: 2 })),
    ).toMatchObject({ kind: 'fallback' });
  });

  it('never puts a token in an error message', async () => {
    server.use(
      http.post(`${BROKER}/auth/oidc/github-actions`, async ({ request }) => {
        const body = (await request.json()) as { token: string };
        return HttpResponse.json(
          { ok: false, error: { code: 'malformed_token', message: `bad ${body.token}` } },
          {
            status: 401,
          },
        );
      }),
    );
    const err = (await resolveToken(req({ brokerUrl: BROKER }), deps()).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain('malformed_token');
    expect(err.message).not.toContain(issued[0]);
  });
});

describe('preconditions', () => {
  it('a project with no broker URL fails naming broker-url and DEPOT_BROKER_URL, or falls back', async () => {
    await expect(resolveToken(req({ project: 'web' }), deps())).rejects.toThrow(
      'Project "web" is set but no broker URL: set the `broker-url` input or the DEPOT_BROKER_URL env variable',
    );
    expect(await resolveToken(req({ project: 'web', buildxFallback: true }), deps())).toMatchObject({
      kind: 'fallback',
    });
  });

  it('no id-token permission: says to add it, or falls back', async () => {
    const d = deps({ ACTIONS_ID_TOKEN_REQUEST_URL: '', ACTIONS_ID_TOKEN_REQUEST_TOKEN: '' });
    await expect(resolveToken(req({ brokerUrl: BROKER }), d)).rejects.toThrow(
      'add `permissions: id-token: write`',
    );
    expect(await resolveToken(req({ brokerUrl: BROKER, buildxFallback: true }), d)).toMatchObject({
      kind: 'fallback',
    });
    expect(issued).toHaveLength(0);
  });

  it('a broker URL that is not http(s) is refused by name', async () => {
    await expect(resolveToken(req(), deps({ DEPOT_BROKER_URL: 'broker.test' }))).rejects.toThrow(
      'DEPOT_BROKER_URL must be an https URL, got "broker.test".',
    );
  });
});

describe('Retry-After', () => {
  it('reads seconds and HTTP dates', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
  });
});
