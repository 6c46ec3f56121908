// resolveAndRun end to end in-process: the real token resolution and the real DepotCli, with only the network
// (msw: the runner's OIDC endpoint and the broker) and the child processes (a fake exec) faked. For each broker
// answer and buildx-fallback setting: what ran, the result or the one-line failure, and the warnings.
import * as core from '@actions/core';
import { http, HttpResponse } from 'msw';
import { useMswServer } from '../test/support/msw';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { githubContext } from '../test/support/github-context';
import { DepotCli } from './depot';
import type { Exec } from './depot';
import { UserError } from './errors';
import { CommandNotFound } from './exec';
import type { ExecOptions } from './exec';
import { resolveAndRun } from './step';
import type { StepContext } from './step';
import type { TokenDeps } from './token';
import type { DepotInputs } from './types/depot-inputs';

const RUNTIME = 'http://runtime.test/idtoken?api-version=2.0';
const BROKER = 'https://broker.test';
const PROJECT_TOKEN = 'depot-project-token-step-8e21';
const ATTEMPTS = 3;

const server = useMswServer();

let issued: string[];
let posted: unknown[];
let sleeps: number[];
let printed: string[];
let ran: Array<{ command: string; args: string[]; env: NodeJS.ProcessEnv }>;

beforeEach(() => {
  issued = [];
  posted = [];
  sleeps = [];
  printed = [];
  ran = [];
  // What the runner reads: workflow commands and log lines on stdout.
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    printed.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
  server.use(
    http.get('http://runtime.test/idtoken', ({ request }) => {
      expect(request.headers.get('authorization')).toBe('Bearer runtime-secret');
      const token = `oidc-${issued.length + 1}-${Math.random().toString(36).slice(2)}`;
      issued.push(token);
      return HttpResponse.json({ value: token });
    }),
  );
});
afterEach(() => vi.restoreAllMocks());

/** The broker answers every exchange with `answer`. */
function broker(answer: () => Response) {
  server.use(
    http.post(`${BROKER}/auth/oidc/github-actions`, async ({ request }) => {
      posted.push(await request.json());
      return answer();
    }),
  );
}

const granted = () =>
  HttpResponse.json({
    ok: true,
    token: PROJECT_TOKEN,
    project: 'web',
    isolated: false,
    expiresAt: '2026-11-30T12:00:00.000Z',
  });
const refused = (status: number, code: string, message: string) => () =>
  HttpResponse.json({ ok: false, error: { code, message, requestId: 'req-1' } }, { status });

function tokenDeps(): TokenDeps {
  return {
    env: { ACTIONS_ID_TOKEN_REQUEST_URL: RUNTIME, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runtime-secret' },
    github: githubContext(),
    getIDToken: async (audience) => {
      vi.stubEnv('ACTIONS_ID_TOKEN_REQUEST_URL', RUNTIME);
      vi.stubEnv('ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'runtime-secret');
      return core.getIDToken(audience);
    },
    fetch: globalThis.fetch,
    sleep: async (ms) => void sleeps.push(ms),
    log: { info: core.info, warning: core.warning, debug: core.debug },
    attempts: ATTEMPTS,
  };
}

const DEPOT_STDERR: Record<number, string> = {
  1: 'ERROR: failed to solve: process "/bin/sh -c false" did not complete successfully: exit code: 1',
  69: 'depot: error: The cache registry cache.example:5000 cannot be reached',
};

/** depot and docker, both installed: depot exits `depotExit`, docker 0. */
function cli(depotExit = 0): DepotCli {
  const exec: Exec = async (command: string, args: readonly string[], opts: ExecOptions = {}) => {
    ran.push({ command, args: [...args], env: opts.env ?? {} });
    const exitCode = command === 'depot' ? depotExit : 0;
    return { exitCode, stdout: '', lastStderrLine: exitCode === 0 ? '' : (DEPOT_STDERR[exitCode] ?? '') };
  };
  return new DepotCli({ exec, env: { PATH: '/usr/bin' } });
}

function inputs(fallback: boolean): DepotInputs {
  return {
    project: 'web',
    token: '',
    save: false,
    'save-tag': [],
    'save-tags': [],
    'build-platform': '',
    'cache-key': '',
    'buildx-fallback': fallback,
    lint: false,
    'lint-fail-on': '',
    'sbom-dir': '',
    'broker-url': BROKER,
    'oidc-audience': '',
    'fork-wait': 60,
    version: { kind: 'preferred', version: '1.2.3' },
    'manifest-url': 'https://releases.test/depot/manifest.json',
  };
}

const ctx: StepContext = {
  github: githubContext(),
  tmp: '/tmp/step',
  buildx: { version: '0.29.1', raw: '' },
  dockerFacts: {},
};
const run = {
  command: 'build' as const,
  buildxArgs: ['--tag', 'localhost:5000/app:1'],
  depotArgs: [],
  positional: ['.'],
};

/** The registry probe for the CLI (cache-probe.ts) is tested on its own: here it hands nothing over. */
const noProbe = () => Promise.resolve({});

const warnings = () => printed.filter((l) => l.startsWith('::warning::')).map((l) => l.slice(11));
const DEPOT = ['depot', 'build', '--tag', 'localhost:5000/app:1', '--project', 'web', '.'];
const BUILDX = ['docker', 'buildx', 'build', '--tag', 'localhost:5000/app:1', '.'];

async function attempt(fallback: boolean, depotExit = 0) {
  const settled = await resolveAndRun(inputs(fallback), ctx, run, {
    token: tokenDeps(),
    probe: noProbe,
    cli: cli(depotExit),
  }).catch((e: unknown) => e);
  return { settled, ran: ran.map((r) => [r.command, ...r.args]) };
}

describe('resolveAndRun: the broker grants a project token', () => {
  it.each([false, true])(
    'buildx-fallback %s: depot builds for the project, the token in its env only',
    async (fb) => {
      broker(granted);
      const { settled, ran: argv } = await attempt(fb);
      expect(settled).toMatchObject({
        resolution: { kind: 'token', source: 'oidc' },
        result: { via: 'depot' },
      });
      expect(argv).toEqual([DEPOT]);
      expect(ran[0]?.env.DEPOT_TOKEN).toBe(PROJECT_TOKEN);
      expect(posted).toEqual([{ token: issued[0], project: 'web' }]);
      expect(warnings()).toEqual([]);
      expect(printed).toContain(`::add-mask::${PROJECT_TOKEN}`);
    },
  );

  it('depot exits 69 with buildx-fallback: plain buildx without the token', async () => {
    broker(granted);
    const { settled, ran: argv } = await attempt(true, 69);
    expect(settled).toMatchObject({ result: { via: 'buildx' } });
    expect(argv).toEqual([DEPOT, BUILDX]);
    expect(ran[1]?.env.DEPOT_TOKEN).toBeUndefined();
    expect(warnings()).toEqual([
      'depot could not reach the broker or the cache registry (exit 69): building with plain docker buildx (buildx-fallback).',
    ]);
  });

  it.each([
    [69, false],
    [1, false],
    [1, true],
  ])(
    'depot exits %i with buildx-fallback %s: the step fails naming the error, no buildx',
    async (code, fb) => {
      broker(granted);
      const { settled, ran: argv } = await attempt(fb, code);
      expect(settled).toBeInstanceOf(UserError);
      expect((settled as Error).message).toBe(`depot build failed with: ${DEPOT_STDERR[code]}`);
      expect(argv).toEqual([DEPOT]);
      expect(warnings()).toEqual([]);
    },
  );
});

describe('resolveAndRun: no depot on PATH', () => {
  it('installs the CLI the version and manifest-url inputs name, then builds with it and the token', async () => {
    broker(granted);
    const asked: unknown[] = [];
    const exec: Exec = async (command: string, args: readonly string[], opts: ExecOptions = {}) => {
      if (command === 'depot') throw new CommandNotFound('depot');
      ran.push({ command, args: [...args], env: opts.env ?? {} });
      return { exitCode: 0, stdout: '', lastStderrLine: '' };
    };
    const installCli = async (req: unknown) => {
      asked.push(req);
      return { version: '1.2.3', bin: '/tool-cache/depot/1.2.3/x64/bin' };
    };
    const cli = new DepotCli({ exec, env: { PATH: '/usr/bin' }, installCli });
    const built = await resolveAndRun(inputs(false), ctx, run, { token: tokenDeps(), probe: noProbe, cli });
    expect(built.result).toEqual({ via: 'depot', exitCode: 0 });
    expect(asked).toEqual([
      {
        version: { kind: 'preferred', version: '1.2.3' },
        manifestUrl: 'https://releases.test/depot/manifest.json',
      },
    ]);
    expect(ran.map((r) => [r.command, ...r.args])).toEqual([
      ['/tool-cache/depot/1.2.3/x64/bin/depot', ...DEPOT.slice(1)],
    ]);
    expect(ran[0]?.env.DEPOT_TOKEN).toBe(PROJECT_TOKEN);
    expect(ran[0]?.env.PATH).toBe('/tool-cache/depot/1.2.3/x64/bin:/usr/bin');
  });
});

describe('resolveAndRun: a broker refusal (4xx) fails the step whatever buildx-fallback says; nothing runs', () => {
  const refusals: Array<[number, string, string]> = [
    [401, 'invalid_token', 'the token signature does not verify'],
    [403, 'no_trust_relationship', 'no rule of project web matches repository acme/web'],
    [409, 'ambiguous_project', 'several projects trust this repository: name one (web, api)'],
  ];
  it.each(refusals.flatMap(([s, c, m]) => [false, true].map((fb) => [s, c, m, fb] as const)))(
    '%i %s, buildx-fallback %s',
    async (status, code, message, fb) => {
      broker(refused(status, code, message));
      const { settled, ran: argv } = await attempt(fb);
      expect(settled).toBeInstanceOf(UserError);
      expect((settled as Error).message).toBe(
        `The broker refused the token exchange (${status} ${code}, request id req-1): ${message}`,
      );
      expect(argv).toEqual([]);
      expect(posted).toHaveLength(1);
      expect(sleeps).toEqual([]);
      expect(warnings()).toEqual([]);
    },
  );
});

describe('resolveAndRun: the broker fails (5xx) or cannot be reached, after the retries', () => {
  const failures: Array<[string, () => Response, string]> = [
    [
      '503',
      refused(503, 'unavailable', 'the store is not reachable'),
      'the broker answered 503 unavailable, request id req-1: the store is not reachable',
    ],
    [
      '500 with no JSON',
      () => new HttpResponse('oops', { status: 500 }),
      'the broker answered 500 http_500: Internal Server Error',
    ],
    ['unreachable', () => HttpResponse.error(), `cannot reach the broker at ${BROKER} (Failed to fetch)`],
  ];

  it.each(failures)(
    '%s with buildx-fallback: plain docker buildx, with a warning',
    async (_n, answer, problem) => {
      broker(answer);
      const { settled, ran: argv } = await attempt(true);
      expect(settled).toMatchObject({ resolution: { kind: 'fallback' }, result: { via: 'buildx' } });
      expect(argv).toEqual([BUILDX]);
      expect(ran[0]?.env.DEPOT_TOKEN).toBeUndefined();
      expect(warnings()).toEqual([
        `Building with plain docker buildx (buildx-fallback): ${problem} after ${ATTEMPTS} tries.`,
      ]);
      expect(posted).toHaveLength(ATTEMPTS);
      expect(issued).toHaveLength(ATTEMPTS); // a fresh OIDC token for every try
      expect(sleeps).toEqual([1000, 2000]);
    },
  );

  it.each(failures)(
    '%s without buildx-fallback: one-line failure, nothing runs',
    async (_n, answer, problem) => {
      broker(answer);
      const { settled, ran: argv } = await attempt(false);
      expect(settled).toBeInstanceOf(UserError);
      expect((settled as Error).message).toBe(
        `Token exchange failed: ${problem} after ${ATTEMPTS} tries. Check \`broker-url\`, or set \`buildx-fallback: true\` to build without it.`,
      );
      expect(argv).toEqual([]);
      expect(posted).toHaveLength(ATTEMPTS);
      expect(warnings()).toEqual([]);
    },
  );
});

describe('resolveAndRun: a pull request from a fork (the claim flow, never the OIDC exchange)', () => {
  const CLAIM_ID = 'claimIdSecret_0123456A';
  const FORK_TOKEN = 'depot-isolated-fork-token-77c1';
  const ARTIFACT = 'depot-claim-challengePublic_012345';
  let uploaded: string[];
  let polls: number;

  beforeEach(() => {
    uploaded = [];
    polls = 0;
  });

  function forkBroker(exchange: () => Response) {
    server.use(
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
      ),
      http.post(`${BROKER}/auth/oidc/public/exchange`, () => {
        polls++;
        return exchange();
      }),
    );
  }

  function forkDeps(upload?: (name: string) => Promise<void>): TokenDeps {
    let clock = 0;
    return {
      ...tokenDeps(),
      github: githubContext({
        eventName: 'pull_request',
        fromFork: true,
        untrustedForkPullRequest: true,
        pullRequestNumber: 12,
        headRepository: 'mallory/web',
      }),
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
      now: () => clock,
      uploadArtifact: upload ?? (async (name) => void uploaded.push(name)),
    };
  }

  async function forkAttempt(fallback: boolean, deps: TokenDeps, over: Partial<DepotInputs> = {}) {
    const settled = await resolveAndRun({ ...inputs(fallback), ...over }, ctx, run, {
      probe: noProbe,
      token: deps,
      cli: cli(),
    }).catch((e: unknown) => e);
    // Neither the claimId nor the token reaches a printed line (only the runner's add-mask commands carry them).
    for (const line of printed.filter((l) => !l.startsWith('::add-mask::'))) {
      expect(line).not.toContain(CLAIM_ID);
      expect(line).not.toContain(FORK_TOKEN);
    }
    return { settled, ran: ran.map((r) => [r.command, ...r.args]) };
  }

  const minted = () =>
    HttpResponse.json({
      ok: true,
      token: FORK_TOKEN,
      project: 'web',
      isolated: true,
      expiresAt: '2026-11-30T12:05:00.000Z',
    });

  it.each([false, true])(
    'buildx-fallback %s: depot builds with the isolated token in its env only, and says why',
    async (fb) => {
      forkBroker(minted);
      const { settled, ran: argv } = await forkAttempt(fb, forkDeps());
      expect(settled).toMatchObject({
        resolution: {
          kind: 'token',
          source: 'fork-claim',
          isolated: true,
          isolation: 'pull request #12 from fork mallory/web',
        },
        result: { via: 'depot' },
      });
      expect(argv).toEqual([DEPOT]);
      expect(ran[0]?.env.DEPOT_TOKEN).toBe(FORK_TOKEN);
      expect(uploaded).toEqual([ARTIFACT]);
      expect(issued).toEqual([]);
      expect(posted).toEqual([]);
      expect(printed).toContain(`::add-mask::${CLAIM_ID}`);
      expect(printed).toContain(`::add-mask::${FORK_TOKEN}`);
      expect(printed).toContain(
        'Isolated: pull request #12 from fork mallory/web; the project cache is neither read nor written.',
      );
      expect(warnings()).toEqual([]);
    },
  );

  it('a failed upload with buildx-fallback: plain docker buildx, said so', async () => {
    forkBroker(minted);
    const { settled, ran: argv } = await forkAttempt(
      true,
      forkDeps(() => Promise.reject(new Error('artifact service said 500'))),
    );
    expect(settled).toMatchObject({ resolution: { kind: 'fallback' }, result: { via: 'buildx' } });
    expect(argv).toEqual([BUILDX]);
    expect(warnings()).toEqual([
      `Building with plain docker buildx (buildx-fallback): the claim artifact ${ARTIFACT} could not be uploaded (artifact service said 500).`,
    ]);
    expect(polls).toBe(0);
  });

  it('a failed upload without buildx-fallback: one-line failure, nothing runs', async () => {
    forkBroker(minted);
    const { settled, ran: argv } = await forkAttempt(
      false,
      forkDeps(() => Promise.reject(new Error('artifact service said 500'))),
    );
    expect(settled).toBeInstanceOf(UserError);
    expect((settled as Error).message).toBe(
      `Fork claim failed: the claim artifact ${ARTIFACT} could not be uploaded (artifact service said 500). Check \`broker-url\` and \`fork-wait\`, or set \`buildx-fallback: true\` to build without it.`,
    );
    expect(argv).toEqual([]);
  });

  it.each([false, true])('fork-wait spent (buildx-fallback %s): buildx or a one-line failure', async (fb) => {
    forkBroker(() => HttpResponse.json({ ok: false, status: 'pending', retryAfter: 5 }, { status: 202 }));
    const { settled, ran: argv } = await forkAttempt(fb, forkDeps(), { 'fork-wait': 12 });
    const reason = `the broker did not see the claim artifact ${ARTIFACT} within fork-wait (12 s, 3 polls)`;
    if (fb) {
      expect(argv).toEqual([BUILDX]);
      expect(warnings()).toEqual([`Building with plain docker buildx (buildx-fallback): ${reason}.`]);
    } else {
      expect((settled as Error).message).toContain(`Fork claim failed: ${reason}.`);
      expect(argv).toEqual([]);
    }
    expect(polls).toBe(3);
    expect(printed.filter((l) => l.startsWith('Fork claim poll '))).toHaveLength(3);
  });

  it.each([false, true])('a refusal at the exchange fails whatever buildx-fallback (%s) says', async (fb) => {
    forkBroker(() =>
      HttpResponse.json(
        {
          ok: false,
          error: { code: 'fork_denied', message: 'project web denies forks', requestId: 'req-3' },
        },
        { status: 403 },
      ),
    );
    const { settled, ran: argv } = await forkAttempt(fb, forkDeps());
    expect((settled as Error).message).toBe(
      'The broker refused the fork claim exchange (403 fork_denied, request id req-3): project web denies forks',
    );
    expect(argv).toEqual([]);
  });

  it('no broker URL: depot builds with no project cache, and the warning says to write the URL literally', async () => {
    const { settled, ran: argv } = await forkAttempt(false, forkDeps(), { 'broker-url': '' });
    expect(settled).toMatchObject({ resolution: { kind: 'no-project' }, result: { via: 'depot' } });
    expect(argv).toEqual([['depot', 'build', '--tag', 'localhost:5000/app:1', '.']]);
    expect(warnings()).toEqual([
      'No project cache for this build: pull request #12 from fork mallory/web gets no OIDC token and no broker URL is set, so no isolated project token: fork runs get no `vars`, so write the broker URL literally in the workflow (`env: DEPOT_BROKER_URL: https://...`).',
    ]);
  });
});
