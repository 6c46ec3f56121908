// A user's own `cache-from: type=gha` / `cache-to: type=gha` (they work on GitHub's runners) pass through beside the
// project cache: from build-push's inputs, through the action's depot command line, into the buildx argv the CLI
// plans, with the Actions cache service's env reaching the depot child (buildx reads it for type=gha). Nothing is
// faked but the child process (DepotCli's exec seam) and the project token (a real ES256 one, as the broker mints).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { getInputs, toArgs } from '../actions/build-push/src/inputs';
import { planBuild } from '../cli/src/build';
import { parseArgs } from '../cli/src/flags';
import { readProjectToken } from '../cli/src/token';
import { projectToken } from '../cli/test/tokens';
import { githubContext } from '../test/support/github-context';
import { DepotCli } from './depot';
import type { Exec } from './depot';
import { depotArgs } from './depot-inputs';

const GHA_FROM = 'type=gha,scope=web';
const GHA_TO = 'type=gha,scope=web,mode=max';
const PROJECT_FROM = 'type=registry,ref=localhost:5001/cache/web:default';
const PROJECT_TO = 'type=registry,ref=localhost:5001/cache/web:default,mode=max,ignore-error=true';
/** What the runner gives a JavaScript action for the Actions cache service (buildx's type=gha reads them). */
const ACTIONS_ENV = {
  ACTIONS_RUNTIME_TOKEN: 'runtime-token-for-gha-cache',
  ACTIONS_CACHE_URL: 'https://artifactcache.actions.githubusercontent.com/abc/',
  ACTIONS_RESULTS_URL: 'https://results-receiver.actions.githubusercontent.com/',
};

beforeEach(() => {
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  // The runner sets every input that has a default in action.yml.
  const inputs: Record<string, string> = {
    context: '.',
    'github-token': '',
    load: 'false',
    'no-cache': 'false',
    pull: 'false',
    push: 'true',
    save: 'false',
    'buildx-fallback': 'false',
    lint: 'false',
    'lint-fail-on': 'error',
    tags: 'localhost:5000/web:1',
    'cache-from': GHA_FROM,
    'cache-to': GHA_TO,
  };
  for (const [k, v] of Object.entries(inputs)) vi.stubEnv(`INPUT_${k.toUpperCase()}`, v);
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

/** build-push's depot command line and the env its child gets, for the inputs stubbed above. */
async function actionCommandLine(): Promise<{ argv: string[]; env: NodeJS.ProcessEnv }> {
  const inputs = getInputs();
  const ctx = {
    github: githubContext(),
    buildx: { version: '0.29.1', raw: '' },
    env: {},
    writeSecret: () => '/tmp/secret',
    iidFile: '/tmp/iid',
    metadataFile: '/tmp/meta.json',
    warn: (message: string) => expect.fail(`unexpected warning: ${message}`),
  };
  const { buildxArgs, context } = toArgs(inputs, ctx);
  const ran: Array<{ argv: string[]; env: NodeJS.ProcessEnv }> = [];
  const exec: Exec = async (command, args, opts = {}) => {
    ran.push({ argv: [command, ...args], env: opts.env ?? {} });
    return { exitCode: 0, stdout: '', lastStderrLine: '' };
  };
  await new DepotCli({ exec, env: { PATH: '/usr/bin', ...ACTIONS_ENV } }).run({
    command: 'build',
    buildxArgs,
    depotArgs: depotArgs(inputs),
    positional: [context],
    resolution: { kind: 'token', token: await projectToken(), source: 'oidc' },
    project: 'web',
    buildxFallback: false,
  });
  expect(ran).toHaveLength(1);
  return ran[0] as { argv: string[]; env: NodeJS.ProcessEnv };
}

/** The CLI's buildx argv for a depot command line (after `depot`), with the token the action gave it. */
function cliBuildxArgv(depotArgv: string[], token: string): string[] {
  const { depot, buildx, positional } = parseArgs('build', depotArgv.slice(1));
  return planBuild({
    flags: buildx,
    depot,
    context: positional[0] ?? '.',
    session: {
      token: readProjectToken(token),
      buildID: 'b1',
      savedRepository: () => 'localhost:5001/builds/web',
    },
    metadataFile: '/tmp/meta.json',
  }).args;
}

/** Each value of `flag` in argv, in order. */
const valuesOf = (argv: string[], flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]] : []));

describe('a user type=gha cache beside the project cache', () => {
  it('reaches the depot command line as given, and the Actions cache env reaches the depot child', async () => {
    const { argv, env } = await actionCommandLine();
    expect(argv[0]).toBe('depot');
    expect(valuesOf(argv, '--cache-from')).toEqual([GHA_FROM]);
    expect(valuesOf(argv, '--cache-to')).toEqual([GHA_TO]);
    for (const [k, v] of Object.entries(ACTIONS_ENV)) expect(env[k]).toBe(v);
  });

  it("the CLI's buildx argv keeps them and adds the project cache after them: both are read and written", async () => {
    const { argv, env } = await actionCommandLine();
    const buildx = cliBuildxArgv(argv.slice(1), env.DEPOT_TOKEN ?? '');
    expect(valuesOf(buildx, '--cache-from')).toEqual([GHA_FROM, PROJECT_FROM]);
    expect(valuesOf(buildx, '--cache-to')).toEqual([GHA_TO, PROJECT_TO]);
    // buildx imports every --cache-from and exports to every --cache-to: the user's flags come first, as given.
    const from = buildx.indexOf(GHA_FROM);
    expect(buildx.slice(from - 1, from + 1)).toEqual(['--cache-from', GHA_FROM]);
    expect(buildx.indexOf(PROJECT_FROM)).toBeGreaterThan(buildx.indexOf(GHA_TO));
  });

  it('a token without cache scopes (an isolated fork token) keeps the user gha cache alone', async () => {
    const { argv } = await actionCommandLine();
    const isolated = await projectToken({ isolated: true, scope: 'build' });
    const buildx = cliBuildxArgv(argv.slice(1), isolated);
    expect(valuesOf(buildx, '--cache-from')).toEqual([GHA_FROM]);
    expect(valuesOf(buildx, '--cache-to')).toEqual([GHA_TO]);
  });
});
