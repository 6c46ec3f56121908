// The fallback rule, through DepotCli's exec seam: what a user sees for each outcome of the depot CLI (exit 0, 1,
// 69, not installed) with buildx-fallback on and off: which program ran with which argv, the result or the one-line
// failure, the warnings, and that DEPOT_TOKEN reaches the depot child's env only.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DepotCli } from './depot';
import type { DepotRun, Exec } from './depot';
import { UserError } from './errors';
import { CommandNotFound } from './exec';
import type { ExecOptions } from './exec';
import type { TokenResolution } from './types/token';

const TOKEN = 'depot-project-token-4f1c9a';
/** A DEPOT_TOKEN in the action's own env: no child may inherit it. */
const AMBIENT = 'ambient-depot-token-77d2e0';
const FAILED_DOCKERFILE =
  'ERROR: failed to solve: process "/bin/sh -c false" did not complete successfully: exit code: 1';
const UNAVAILABLE =
  'depot: error: The cache registry cache.example:5000 cannot be reached (connect ECONNREFUSED)';
const DOCKER_FAILED =
  'ERROR: failed to solve: failed to read dockerfile: open Dockerfile: no such file or directory';

/** An outcome of a child: its exit status, or not installed (exec rejects with CommandNotFound). */
type Outcome = number | 'missing';

interface Ran {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
}

/** A fake exec: each command answers its outcome; the ones that started are recorded. */
function fakeExec(outcomes: Record<'depot' | 'docker', Outcome>, ran: Ran[]): Exec {
  return async (command: string, args: readonly string[], opts: ExecOptions = {}) => {
    const outcome = outcomes[command as 'depot' | 'docker'];
    if (outcome === undefined) throw new Error(`unexpected command ${command}`);
    if (outcome === 'missing') throw new CommandNotFound(command);
    ran.push({ command, args: [...args], env: opts.env ?? {}, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    const last = command === 'depot' ? (outcome === 69 ? UNAVAILABLE : FAILED_DOCKERFILE) : DOCKER_FAILED;
    return { exitCode: outcome, stdout: '', lastStderrLine: outcome === 0 ? '' : last };
  };
}

/** What the step printed (the runner's view: workflow commands and log lines), one entry per line. */
let printed: string[];
beforeEach(() => {
  printed = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    printed.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
});
afterEach(() => vi.restoreAllMocks());

const warnings = () => printed.filter((l) => l.startsWith('::warning::')).map((l) => l.slice(11));

function request(over: Partial<DepotRun> = {}): DepotRun {
  return {
    command: 'build',
    buildxArgs: ['--tag', 'localhost:5000/app:1', '--push'],
    depotArgs: ['--save'],
    positional: ['.'],
    resolution: { kind: 'token', token: TOKEN, source: 'oidc' },
    project: 'web',
    buildxFallback: false,
    ...over,
  };
}

const DEPOT = [
  'depot',
  'build',
  '--tag',
  'localhost:5000/app:1',
  '--push',
  '--save',
  '--project',
  'web',
  '.',
];
const BUILDX = ['docker', 'buildx', 'build', '--tag', 'localhost:5000/app:1', '--push', '.'];
const FELL_BACK_69 =
  'depot could not reach the broker or the cache registry (exit 69): building with plain docker buildx (buildx-fallback).';
const NOT_INSTALLED = 'The depot CLI is not installed: building with plain docker buildx (buildx-fallback).';
const DROPPED = 'Plain buildx does not know --save: they are left out of this build.';

interface Row {
  /** How the depot CLI ends. */
  depot: Outcome;
  fallback: boolean;
  /** The programs that ran, each as its command line. */
  ran: string[][];
  /** The result, or the one-line failure. */
  outcome: { via: 'depot' | 'buildx' } | { error: string };
  warnings: string[];
}

const rows: Row[] = [
  { depot: 0, fallback: false, ran: [DEPOT], outcome: { via: 'depot' }, warnings: [] },
  { depot: 0, fallback: true, ran: [DEPOT], outcome: { via: 'depot' }, warnings: [] },
  // A failed Dockerfile fails the step, with or without buildx-fallback: never a second build.
  {
    depot: 1,
    fallback: false,
    ran: [DEPOT],
    outcome: { error: `depot build failed with: ${FAILED_DOCKERFILE}` },
    warnings: [],
  },
  {
    depot: 1,
    fallback: true,
    ran: [DEPOT],
    outcome: { error: `depot build failed with: ${FAILED_DOCKERFILE}` },
    warnings: [],
  },
  // 69: the CLI could not reach the broker or the cache registry. Without buildx-fallback: fail, naming why.
  {
    depot: 69,
    fallback: false,
    ran: [DEPOT],
    outcome: { error: `depot build failed with: ${UNAVAILABLE}` },
    warnings: [],
  },
  {
    depot: 69,
    fallback: true,
    ran: [DEPOT, BUILDX],
    outcome: { via: 'buildx' },
    warnings: [FELL_BACK_69, DROPPED],
  },
  {
    depot: 'missing',
    fallback: false,
    ran: [],
    outcome: {
      error:
        'depot CLI not found. Add `uses: depot-suite/depot-ci/actions/setup@v1` before this step, or set `buildx-fallback: true`.',
    },
    warnings: [],
  },
  {
    depot: 'missing',
    fallback: true,
    ran: [BUILDX],
    outcome: { via: 'buildx' },
    warnings: [NOT_INSTALLED, DROPPED],
  },
];

describe('DepotCli: the depot CLI exits 0 / 1 / 69 or is missing, with buildx-fallback on / off', () => {
  const named = rows.map((row) => ({
    ...row,
    cli: row.depot === 'missing' ? 'not installed' : `exits ${row.depot}`,
  }));
  it.each(named)('the CLI $cli, buildx-fallback $fallback', async (row) => {
    const ran: Ran[] = [];
    const cli = new DepotCli({
      exec: fakeExec({ depot: row.depot, docker: 0 }, ran),
      env: { PATH: '/usr/bin', HOME: '/home/runner', DEPOT_TOKEN: AMBIENT },
    });
    const settled = await cli.run(request({ buildxFallback: row.fallback })).catch((e: unknown) => e);
    if ('error' in row.outcome) {
      expect(settled).toBeInstanceOf(UserError);
      expect((settled as UserError).message).toBe(row.outcome.error);
    } else {
      expect(settled).toEqual({ via: row.outcome.via, exitCode: 0 });
    }
    expect(ran.map((r) => [r.command, ...r.args])).toEqual(row.ran);
    expect(warnings()).toEqual(row.warnings);
    // The user sees each command line before it runs.
    for (const argv of row.ran) expect(printed).toContain(argv.join(' '));

    // The token: in the depot child's env only, never the ambient one, never in argv or in the log.
    for (const r of ran) {
      expect(r.env.DEPOT_TOKEN).toBe(r.command === 'depot' ? TOKEN : undefined);
      expect(r.env.PATH).toBe('/usr/bin');
      expect(r.args.join(' ')).not.toContain(TOKEN);
    }
    expect(printed.join('\n')).not.toContain(TOKEN);
    expect(printed.join('\n')).not.toContain(AMBIENT);
  });
});

describe('DepotCli: plain buildx after a fallback', () => {
  it.each([
    [1, `docker buildx build failed with: ${DOCKER_FAILED}`],
    [
      'missing' as const,
      'Neither the depot CLI nor docker is installed: add the setup action before this step.',
    ],
  ])('docker %s fails the step in one line', async (docker, message) => {
    const ran: Ran[] = [];
    const cli = new DepotCli({ exec: fakeExec({ depot: 69, docker }, ran), env: {} });
    await expect(cli.run(request({ buildxFallback: true }))).rejects.toThrow(new UserError(message));
    expect(ran.map((r) => r.command)).toEqual(docker === 'missing' ? ['depot'] : ['depot', 'docker']);
  });
});

describe('DepotCli: what the token resolution decided', () => {
  const resolutions: Array<[string, TokenResolution, string[], string[]]> = [
    [
      'fallback (the broker could not be used): plain buildx only, nothing of depot',
      {
        kind: 'fallback',
        reason: 'cannot reach the broker at https://broker.test (fetch failed) after 4 tries',
      },
      BUILDX,
      [
        'Building with plain docker buildx (buildx-fallback): cannot reach the broker at https://broker.test (fetch failed) after 4 tries.',
        DROPPED,
      ],
    ],
    [
      'no project: depot with no token and no --project, one warning',
      { kind: 'no-project', reason: 'no token, broker URL or project is set' },
      ['depot', 'build', '--tag', 'localhost:5000/app:1', '--push', '--save', '.'],
      ['No project cache for this build: no token, broker URL or project is set.'],
    ],
  ];

  it.each(resolutions)('%s', async (_name, resolution, argv, expected) => {
    const ran: Ran[] = [];
    const cli = new DepotCli({
      exec: fakeExec({ depot: 0, docker: 0 }, ran),
      env: { DEPOT_TOKEN: AMBIENT },
    });
    const { project: _p, ...noProject } = request();
    const req = resolution.kind === 'no-project' ? { ...noProject, resolution } : request({ resolution });
    await cli.run({ ...req, cwd: '/work/svc', env: { BUILDX_BAKE_GIT_AUTH_TOKEN: 'gh-token' } });
    expect(ran.map((r) => [r.command, ...r.args])).toEqual([argv]);
    expect(ran[0]?.env.DEPOT_TOKEN).toBeUndefined();
    expect(ran[0]?.env.BUILDX_BAKE_GIT_AUTH_TOKEN).toBe('gh-token');
    expect(ran[0]?.cwd).toBe('/work/svc');
    expect(warnings()).toEqual(expected);
  });
});
