// Every depot command answers --help and -h on stdout with exit 0, listing its flags and exactly the env variables
// it reads; the small parsers (pull, push, init, configure-docker, version) refuse unknown flags, missing values
// and stray arguments in one line that says where the help is.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BAKE_HELP } from './bake';
import { BUILD_HELP } from './build';
import { CONFIGURE_HELP } from './configure-docker';
import { depot, HELP } from './depot';
import { UserError } from './errors';
import { init, INIT_HELP } from './init';
import { PULL_HELP, PUSH_HELP } from './saved';
import { VERSION, VERSION_HELP } from './version';

/** Runs `depot argv` in-process with stdout captured. */
async function capture(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const code = await depot(argv, env);
  return { code, stdout };
}

afterEach(() => {
  vi.restoreAllMocks();
});

/** Every env variable the CLI's code reads (grep `env.` in cli/src): each help names exactly its own. */
const CI_ENV = [
  'DEPOT_BROKER_URL',
  'DEPOT_OIDC_AUDIENCE',
  'DEPOT_OIDC_TOKEN',
  'DEPOT_BUILDKITE_CLAIMS',
  'DEPOT_CACHE_DIR',
  'XDG_CACHE_HOME',
];
const ENV = ['DEPOT_TOKEN', 'DEPOT_PROJECT_ID', 'DOCKER_CONFIG', 'HOME', 'RUNNER_TEMP', ...CI_ENV];
const SESSION_ENV = ['DEPOT_TOKEN', 'DEPOT_PROJECT_ID', 'DOCKER_CONFIG', 'HOME', 'RUNNER_TEMP', ...CI_ENV];
const BUILD_FLAGS = [
  '--project ID',
  '--token TOKEN',
  '--save',
  '--save-tag TAG',
  '--build-platform P',
  '--lint',
  '--lint-fail-on L',
  '--sbom-dir DIR',
  '--debug',
  '-h, --help',
];
const SAVED_FLAGS = ['--project ID', '--token TOKEN', '--target T', '-t, --tag TAG', '--debug', '-h, --help'];

const helps: [string, string, string[], string[]][] = [
  [
    '',
    HELP,
    ['build', 'bake', 'pull', 'push', 'init', 'configure-docker', 'version', '-h, --help', '--version'],
    SESSION_ENV.filter((e) => e !== 'XDG_CACHE_HOME'),
  ],
  ['build', BUILD_HELP, BUILD_FLAGS, SESSION_ENV],
  ['bake', BAKE_HELP, BUILD_FLAGS, SESSION_ENV],
  ['pull', PULL_HELP, [...SAVED_FLAGS, '--platform P'], SESSION_ENV],
  ['push', PUSH_HELP, SAVED_FLAGS, SESSION_ENV],
  ['init', INIT_HELP, ['--project ID', '-h, --help'], ['DEPOT_TOKEN', 'DEPOT_PROJECT_ID']],
  ['configure-docker', CONFIGURE_HELP, ['--uninstall', '-h, --help'], ['DOCKER_CONFIG', 'HOME']],
  ['version', VERSION_HELP, ['-h, --help'], []],
];

describe('--help', () => {
  it.each(helps)('depot %s --help and -h print the help, exit 0', async (command, text, flags, env) => {
    for (const flag of ['--help', '-h']) {
      const r = await capture(command ? [command, flag] : [flag], { DEPOT_TOKEN: 'not a token' });
      expect(r).toEqual({ code: 0, stdout: text });
    }
    expect(text).toMatch(new RegExp(`^Usage: depot ${command || 'COMMAND'}`));
    for (const f of flags) expect(text).toContain(f);
    expect(ENV.filter((e) => new RegExp(`\\b${e}\\b`).test(text))).toEqual(
      ENV.filter((e) => env.includes(e)),
    );
  });

  it('depot help prints the help too; depot with no command prints it and exits 1', async () => {
    expect(await capture(['help'])).toEqual({ code: 0, stdout: HELP });
    expect(await capture([])).toEqual({ code: 1, stdout: HELP });
  });

  it('depot version and depot --version print the version', async () => {
    expect(await capture(['version'])).toEqual({ code: 0, stdout: `depot ${VERSION}\n` });
    expect(await capture(['--version'])).toEqual({ code: 0, stdout: `depot ${VERSION}\n` });
  });
});

describe('the small parsers refuse in one line', () => {
  const bad: [string[], string][] = [
    [['pull', '--bogus', 'abc'], 'unknown flag --bogus for depot pull (see depot pull --help)'],
    [['pull', '-x', 'abc'], 'unknown flag -x for depot pull (see depot pull --help)'],
    [['pull', 'abc', '--project'], '--project needs a value for depot pull (see depot pull --help)'],
    [['pull', '--token', '--debug', 'abc'], '--token needs a value for depot pull (see depot pull --help)'],
    [['pull', '--platform=', 'abc'], '--platform needs a value for depot pull (see depot pull --help)'],
    [['pull', 'abc', '-t'], '-t needs a value for depot pull (see depot pull --help)'],
    [['pull', '--debug=yes', 'abc'], '--debug takes no value for depot pull (see depot pull --help)'],
    [
      ['push', '--platform', 'linux/amd64', 'abc'],
      'unknown flag --platform for depot push (see depot push --help)',
    ],
    [['push', '-t', 'x', 'abc', '--tag'], '--tag needs a value for depot push (see depot push --help)'],
    [['push', 'abc', '--target'], '--target needs a value for depot push (see depot push --help)'],
    [['init', '--project'], '--project needs a value for depot init (see depot init --help)'],
    [['init', '--project='], '--project needs a value for depot init (see depot init --help)'],
    [['init', '--project', '-h'], '--project needs a value for depot init (see depot init --help)'],
    [['init', '--x'], 'unknown flag --x for depot init (see depot init --help)'],
    [['init', 'web'], 'depot init takes no arguments, got "web" (see depot init --help)'],
    [
      ['configure-docker', '--force'],
      'unknown flag --force for depot configure-docker (see depot configure-docker --help)',
    ],
    [
      ['configure-docker', '--uninstall=yes'],
      '--uninstall takes no value for depot configure-docker (see depot configure-docker --help)',
    ],
    [
      ['configure-docker', 'now'],
      'depot configure-docker takes no arguments, got "now" (see depot configure-docker --help)',
    ],
    [['version', '--short'], 'unknown flag --short for depot version (see depot version --help)'],
    [['version', 'x'], 'depot version takes no arguments, got "x" (see depot version --help)'],
    [['frobnicate'], 'Unknown command "frobnicate": run `depot --help` for the list.'],
  ];
  it.each(bad)('depot %j', async (argv, message) => {
    // DEPOT_PROJECT_ID is set: `init --project` with no value must not fall back to it.
    const err: unknown = await capture(argv, { DEPOT_PROJECT_ID: 'web' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err).toMatchObject({ message, exitCode: 1 });
  });

  it('init --project with no value writes nothing, even with DEPOT_PROJECT_ID set', () => {
    const dir = mkdtempSync(join(tmpdir(), 'depot-init-'));
    expect(() => init(['--project'], { DEPOT_PROJECT_ID: 'web' }, dir)).toThrow(
      '--project needs a value for depot init',
    );
    expect(existsSync(join(dir, 'depot.json'))).toBe(false);
    expect(init(['--project=api'], { DEPOT_PROJECT_ID: 'web' }, dir)).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'depot.json'), 'utf8'))).toEqual({ id: 'api' });
    expect(init([], { DEPOT_PROJECT_ID: 'web' }, dir)).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'depot.json'), 'utf8'))).toEqual({ id: 'web' });
  });
});
