// The fork-PR claim flow through resolveToken: the broker faked by msw (anything unhandled fails), a fake artifact
// upload, and a fake clock that the fake sleep moves. For each path and buildx-fallback setting: the resolution or
// the one-line failure, the polls made, and that neither the claimId nor the token reaches any printed line.
import { existsSync } from 'node:fs';
import { http, HttpResponse } from 'msw';
import { useMswServer } from '../test/support/msw';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { githubContext } from '../test/support/github-context';
import { CLAIM_TTL_SECONDS } from './contract/fork-claim';
import { UserError } from './errors';
import { capForkWait, forkIsolation, uploadClaimArtifact } from './fork-claim';
import { BrokerRefusal, resolveToken } from './token';
import type { TokenDeps, TokenRequest, TokenResolution } from './token';

const uploadArtifact = vi.fn();
vi.mock('@actions/artifact', () => ({
  DefaultArtifactClient: class {
    uploadArtifact = uploadArtifact;
  },
}));

const BROKER = 'https://broker.test';
const CLAIM_ID = 'claimIdSecret_0123456A';
const CHALLENGE = 'challengePublic_012345';
const ARTIFACT = `depot-claim-${CHALLENGE}`;
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.isolated-fork-token.sig';
const EXPIRES = '2026-11-30T12:05:00.000Z';
const ATTEMPTS = 3;

const server = useMswServer();

let clock: number;
let sleeps: number[];
let uploaded: string[];
let claims: unknown[];
let polls: unknown[];
let printed: string[];
let masked: string[];
let lines: string[];

beforeEach(() => {
  clock = 1_000_000;
  sleeps = [];
  uploaded = [];
  claims = [];
  polls = [];
  printed = [];
  masked = [];
  lines = [];
  uploadArtifact.mockReset();
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    for (const line of String(chunk).split('\n').filter(Boolean)) {
      const m = /^::add-mask::(.*)$/.exec(line);
      if (m?.[1]) masked.push(m[1]);
      else printed.push(line);
    }
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  // Whatever happened, the claimId and the token reached no log line.
  for (const line of [...printed, ...lines]) {
    expect(line).not.toContain(CLAIM_ID);
    expect(line).not.toContain(TOKEN);
  }
});

const fork = () =>
  githubContext({
    eventName: 'pull_request',
    ref: 'refs/pull/12/merge',
    fromFork: true,
    untrustedForkPullRequest: true,
    pullRequestNumber: 12,
    headRepository: 'mallory/web',
  });

function deps(over: Partial<TokenDeps> = {}): TokenDeps {
  return {
    env: {},
    github: fork(),
    getIDToken: () => Promise.reject(new Error('a fork run has no OIDC token')),
    fetch: globalThis.fetch,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    now: () => clock,
    uploadArtifact: async (name) => void uploaded.push(name),
    log: {
      info: (m) => void lines.push(m),
      warning: (m) => void lines.push(`warning: ${m}`),
      debug: (m) => void lines.push(`debug: ${m}`),
    },
    attempts: ATTEMPTS,
    ...over,
  };
}

const req = (over: Partial<TokenRequest> = {}): TokenRequest => ({
  token: '',
  project: 'web',
  brokerUrl: BROKER,
  audience: '',
  buildxFallback: false,
  forkWait: 60,
  ...over,
});

type Answer = (body: unknown) => Response;

/** The broker: claims answered by `claim`, polls by `exchange` in turn (the last one repeats). */
function broker(claim: Answer[], exchange: Answer[] = []) {
  let c = 0;
  let e = 0;
  server.use(
    http.post(`${BROKER}/auth/oidc/public/claim`, async ({ request }) => {
      const body = await request.json();
      claims.push(body);
      return (claim[Math.min(c++, claim.length - 1)] as Answer)(body);
    }),
    http.post(`${BROKER}/auth/oidc/public/exchange`, async ({ request }) => {
      const body = await request.json();
      polls.push(body);
      return (exchange[Math.min(e++, exchange.length - 1)] as Answer)(body);
    }),
  );
}

const created: Answer = () =>
  HttpResponse.json(
    { ok: true, claimId: CLAIM_ID, challenge: CHALLENGE, expiresAt: EXPIRES },
    { status: 201 },
  );
const pending =
  (retryAfter: number): Answer =>
  () =>
    HttpResponse.json({ ok: false, status: 'pending', retryAfter }, { status: 202 });
const minted: Answer = () =>
  HttpResponse.json({ ok: true, token: TOKEN, project: 'web', isolated: true, expiresAt: EXPIRES });
const refused =
  (status: number, code: string, message: string, headers: Record<string, string> = {}): Answer =>
  () =>
    HttpResponse.json({ ok: false, error: { code, message, requestId: 'req-9' } }, { status, headers });

const progress = () => lines.filter((l) => l.startsWith('Fork claim poll '));

async function settle(r: TokenRequest, d = deps()): Promise<TokenResolution | Error> {
  return resolveToken(r, d).catch((e: unknown) => e as Error);
}

describe('a fork pull request with a broker URL claims an isolated token', () => {
  it('201, pending, pending, 200: the isolated token, masked, and one progress line per poll', async () => {
    broker([created], [pending(2), pending(3), minted]);
    const r = await settle(req());
    expect(r).toEqual({
      kind: 'token',
      token: TOKEN,
      source: 'fork-claim',
      project: 'web',
      isolated: true,
      expiresAt: EXPIRES,
      isolation: 'pull request #12 from fork mallory/web',
    });
    expect(claims).toEqual([
      { repository: 'acme/web', runId: 42, runAttempt: 1, pullRequest: 12, project: 'web' },
    ]);
    expect(uploaded).toEqual([ARTIFACT]);
    expect(polls).toEqual([{ claimId: CLAIM_ID }, { claimId: CLAIM_ID }, { claimId: CLAIM_ID }]);
    expect(sleeps).toEqual([2000, 3000]);
    expect(masked).toEqual(expect.arrayContaining([CLAIM_ID, TOKEN]));
    expect(progress()).toHaveLength(3);
    expect(progress()[0]).toBe(
      `Fork claim poll 1: pending, the broker does not see ${ARTIFACT} listed yet; next poll in 2 s (0 of 60 s of fork-wait spent).`,
    );
    expect(lines).toContain(
      'Isolated: pull request #12 from fork mallory/web; the project cache is neither read nor written.',
    );
    // The challenge is public: the artifact's name is logged.
    expect(lines.some((l) => l.includes(ARTIFACT))).toBe(true);
  });

  it('sends no project when none is named, and reads DEPOT_PROJECT_ID and DEPOT_BROKER_URL', async () => {
    broker([created], [minted]);
    await settle(req({ project: '', brokerUrl: '' }), deps({ env: { DEPOT_BROKER_URL: `${BROKER}/` } }));
    await settle(
      req({ project: '', brokerUrl: '' }),
      deps({ env: { DEPOT_BROKER_URL: BROKER, DEPOT_PROJECT_ID: 'api' } }),
    );
    expect(claims).toEqual([
      { repository: 'acme/web', runId: 42, runAttempt: 1, pullRequest: 12 },
      { repository: 'acme/web', runId: 42, runAttempt: 1, pullRequest: 12, project: 'api' },
    ]);
  });

  it('refuses a token the broker did not mark isolated', async () => {
    broker(
      [created],
      [
        () =>
          HttpResponse.json({ ok: true, token: TOKEN, project: 'web', isolated: false, expiresAt: EXPIRES }),
      ],
    );
    const r = await settle(req({ buildxFallback: true }));
    expect(r).toBeInstanceOf(UserError);
    expect((r as Error).message).toContain('not isolated');
  });
});

describe('fork-wait', () => {
  it.each([false, true])('pending until fork-wait is spent (buildx-fallback %s)', async (fb) => {
    broker([created], [pending(3)]);
    const r = await settle(req({ forkWait: 10, buildxFallback: fb }));
    const reason = `the broker did not see the claim artifact ${ARTIFACT} within fork-wait (10 s, 4 polls)`;
    if (fb) {
      expect(r).toEqual({ kind: 'fallback', reason });
    } else {
      expect(r).toBeInstanceOf(UserError);
      expect((r as Error).message).toBe(
        `Fork claim failed: ${reason}. Check \`broker-url\` and \`fork-wait\`, or set \`buildx-fallback: true\` to build without it.`,
      );
    }
    // Polls at 0, 3, 6 and 9 s; the next one (12 s) would be past fork-wait.
    expect(polls).toHaveLength(4);
    expect(sleeps).toEqual([3000, 3000, 3000]);
    expect(progress()).toHaveLength(4);
    expect(progress()[3]).toContain('fork-wait (10 s) is spent');
  });

  it('is capped at the claim lifetime, with a warning', async () => {
    broker([created], [pending(60)]);
    const r = await settle(req({ forkWait: 900, buildxFallback: true }));
    expect(r).toMatchObject({ kind: 'fallback' });
    expect(lines).toContain(
      `warning: \`fork-wait\` is 900 s, longer than a fork claim lives (${CLAIM_TTL_SECONDS} s): waiting ${CLAIM_TTL_SECONDS} s at most.`,
    );
    expect(polls).toHaveLength(6); // 0, 60, ..., 300 s
    expect(clock - 1_000_000).toBe(CLAIM_TTL_SECONDS * 1000);
  });

  it('is not capped, and not warned about, within the claim lifetime', () => {
    const warning = vi.fn();
    expect(capForkWait(300, { warning })).toBe(300);
    expect(capForkWait(0, { warning })).toBe(0);
    expect(warning).not.toHaveBeenCalled();
  });

  it('0: one poll, no waiting', async () => {
    broker([created], [pending(1)]);
    expect(await settle(req({ forkWait: 0, buildxFallback: true }))).toMatchObject({ kind: 'fallback' });
    expect(polls).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('never outlasts the claim the broker gave (its Date header and expiresAt)', async () => {
    const now = new Date('2026-11-30T12:00:00.000Z');
    broker(
      [
        () =>
          HttpResponse.json(
            {
              ok: true,
              claimId: CLAIM_ID,
              challenge: CHALLENGE,
              expiresAt: new Date(+now + 20_000).toISOString(),
            },
            { status: 201, headers: { date: now.toUTCString() } },
          ),
      ],
      [pending(5)],
    );
    await settle(req({ forkWait: 60, buildxFallback: true }));
    expect(polls).toHaveLength(5); // 0, 5, 10, 15, 20 s
  });
});

describe('refusals (4xx) fail the step whatever buildx-fallback says', () => {
  const atClaim: Array<[number, string]> = [
    [403, 'fork_denied'],
    [403, 'not_a_fork'],
    [403, 'repository_not_public'],
    [403, 'no_project'],
    [403, 'event_not_allowed'],
    [409, 'ambiguous_project'],
    [400, 'malformed_request'],
  ];
  it.each(atClaim.flatMap(([s, c]) => [false, true].map((fb) => [s, c, fb] as const)))(
    'at the claim: %i %s, buildx-fallback %s',
    async (status, code, fb) => {
      broker([refused(status, code, 'not for you')]);
      const r = await settle(req({ buildxFallback: fb }));
      expect(r).toBeInstanceOf(BrokerRefusal);
      expect(r).toMatchObject({ status, code, requestId: 'req-9' });
      expect((r as Error).message).toBe(
        `The broker refused the fork claim (${status} ${code}, request id req-9): not for you`,
      );
      expect(claims).toHaveLength(1);
      expect(uploaded).toEqual([]);
      expect(polls).toEqual([]);
    },
  );

  const atExchange: Array<[number, string]> = [
    [409, 'claim_used'],
    [404, 'unknown_claim'],
    [410, 'claim_expired'],
    [403, 'run_not_in_progress'],
    [403, 'run_not_found'],
    [403, 'pull_request_mismatch'],
    [403, 'fork_denied'],
  ];
  it.each(atExchange.flatMap(([s, c]) => [false, true].map((fb) => [s, c, fb] as const)))(
    'at the exchange, after a pending poll: %i %s, buildx-fallback %s; the claimId is never echoed',
    async (status, code, fb) => {
      broker(
        [created],
        [
          pending(1),
          (body) => refused(status, code, `claim ${(body as { claimId: string }).claimId} refused`)(body),
        ],
      );
      const r = await settle(req({ buildxFallback: fb }));
      expect(r).toBeInstanceOf(BrokerRefusal);
      expect(r).toMatchObject({ status, code });
      expect((r as Error).message).toBe(
        `The broker refused the fork claim exchange (${status} ${code}, request id req-9): claim *** refused`,
      );
      expect(polls).toHaveLength(2);
    },
  );
});

describe('the broker is busy or unreachable: bounded retries, then fail or fall back', () => {
  it('429 with Retry-After at the claim, then 201; 503 github_unavailable with Retry-After at a poll, then 200', async () => {
    broker(
      [refused(429, 'rate_limited', 'slow down', { 'retry-after': '4' }), created],
      [refused(503, 'github_unavailable', 'GitHub did not answer', { 'retry-after': '7' }), minted],
    );
    const r = await settle(req());
    expect(r).toMatchObject({ kind: 'token', source: 'fork-claim', isolated: true });
    expect(claims).toHaveLength(2);
    expect(polls).toHaveLength(2);
    expect(sleeps).toEqual([4000, 7000]);
    expect(progress()[0]).toContain(
      'the broker answered 503 github_unavailable, request id req-9: GitHub did not answer',
    );
  });

  const failures: Array<[string, Answer[], Answer[], string]> = [
    [
      'the claim answers 503 every time',
      [refused(503, 'internal', 'store down')],
      [],
      `the broker answered 503 internal, request id req-9: store down after ${ATTEMPTS} tries`,
    ],
    [
      'the claim cannot reach the broker',
      [() => HttpResponse.error()],
      [],
      `cannot reach the broker at ${BROKER} (Failed to fetch) after ${ATTEMPTS} tries`,
    ],
    [
      'the polls answer 429 every time',
      [created],
      [refused(429, 'rate_limited', 'slow down', { 'retry-after': '2' })],
      `the broker answered 429 rate_limited, request id req-9: slow down after ${ATTEMPTS} tries`,
    ],
    [
      'the polls cannot reach the broker',
      [created],
      [pending(1), () => HttpResponse.error()],
      `cannot reach the broker at ${BROKER} (Failed to fetch) after ${ATTEMPTS} tries`,
    ],
  ];
  it.each(failures.flatMap(([n, c, e, w]) => [false, true].map((fb) => [n, c, e, w, fb] as const)))(
    '%s (buildx-fallback %5$s)',
    async (_name, claim, exchange, reason, fb) => {
      broker(claim, exchange);
      const r = await settle(req({ buildxFallback: fb }));
      if (fb) expect(r).toEqual({ kind: 'fallback', reason });
      else {
        expect(r).toBeInstanceOf(UserError);
        expect(r).not.toBeInstanceOf(BrokerRefusal);
        expect((r as Error).message).toBe(
          `Fork claim failed: ${reason}. Check \`broker-url\` and \`fork-wait\`, or set \`buildx-fallback: true\` to build without it.`,
        );
      }
    },
  );

  it('a Retry-After at the claim longer than fork-wait: no waiting past it', async () => {
    broker([refused(429, 'rate_limited', 'slow down', { 'retry-after': '60' }), created]);
    const r = await settle(req({ forkWait: 10, buildxFallback: true }));
    expect(r).toEqual({
      kind: 'fallback',
      reason:
        'the broker answered 429 rate_limited, request id req-9: slow down; fork-wait is spent after 1 try',
    });
    expect(claims).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it.each([false, true])('a failed upload: fails or falls back, no poll (buildx-fallback %s)', async (fb) => {
    broker([created], [minted]);
    const r = await settle(
      req({ buildxFallback: fb }),
      deps({ uploadArtifact: () => Promise.reject(new Error('Failed to CreateArtifact: 403 Forbidden')) }),
    );
    const reason = `the claim artifact ${ARTIFACT} could not be uploaded (Failed to CreateArtifact: 403 Forbidden)`;
    if (fb) expect(r).toEqual({ kind: 'fallback', reason });
    else
      expect((r as Error).message).toBe(
        `Fork claim failed: ${reason}. Check \`broker-url\` and \`fork-wait\`, or set \`buildx-fallback: true\` to build without it.`,
      );
    expect(polls).toEqual([]);
  });
});

describe('forkIsolation', () => {
  it('names the pull request and the fork, or says what it can', () => {
    expect(forkIsolation(fork())).toBe('pull request #12 from fork mallory/web');
    expect(forkIsolation(githubContext({ fromFork: true }))).toBe('a pull request from a fork');
  });
});

describe('uploadClaimArtifact (the default upload)', () => {
  it('uploads one tiny file under the artifact name, kept 1 day, and removes its temp dir', async () => {
    let seen: { name: string; files: string[]; root: string; opts: unknown } | undefined;
    uploadArtifact.mockImplementation(async (name: string, files: string[], root: string, opts: unknown) => {
      seen = { name, files, root, opts };
      expect(existsSync(files[0] as string)).toBe(true);
      return { id: 1, size: 60 };
    });
    await uploadClaimArtifact(ARTIFACT, {});
    expect(seen?.name).toBe(ARTIFACT);
    expect(seen?.files).toHaveLength(1);
    expect(seen?.opts).toEqual({ retentionDays: 1 });
    expect(existsSync(seen?.root as string)).toBe(false);
  });

  it('lets an upload error through for the claim flow to report', async () => {
    uploadArtifact.mockRejectedValue(new Error('no ACTIONS_RUNTIME_TOKEN'));
    await expect(uploadClaimArtifact(ARTIFACT, {})).rejects.toThrow('no ACTIONS_RUNTIME_TOKEN');
  });
});
