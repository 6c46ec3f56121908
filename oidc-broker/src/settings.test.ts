// Flags, env variables and defaults: flags win over env, env over the embedded defaults; bad values are one line;
// `--help` for the broker and each command lists its commands, flags and the env variables it reads.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors';
import type { Command, Help, Settings } from './settings';
import { BROKER_HELP, DEFAULT_CONFIG, DEFAULT_DATA_DIR, parseSettings, REPO_ROOT } from './settings';

function settings(argv: string[], env: NodeJS.ProcessEnv): Settings {
  const s = parseSettings(argv, env);
  if ('help' in s) throw new Error(`${argv.join(' ')} asked for help`);
  return s;
}

function refusal(argv: string[], env: NodeJS.ProcessEnv): Error {
  try {
    parseSettings(argv, env);
  } catch (e: unknown) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as Error;
  }
  throw new Error(`${argv.join(' ')} was accepted`);
}

describe('parseSettings', () => {
  it('uses the embedded defaults with no flags and no env', () => {
    const s = settings([], {});
    expect(s).toMatchObject({ command: 'serve', config: DEFAULT_CONFIG, dataDir: DEFAULT_DATA_DIR });
    expect(s.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(DEFAULT_CONFIG.endsWith('examples/broker.yml')).toBe(true);
  });

  it('reads BROKER_CONFIG, BROKER_DATA_DIR and BROKER_LISTEN, and flags win', () => {
    const env = { BROKER_CONFIG: '/e/c.yml', BROKER_DATA_DIR: '/e/data', BROKER_LISTEN: '127.0.0.1:9001' };
    expect(settings([], env)).toMatchObject({
      config: '/e/c.yml',
      dataDir: '/e/data',
      listen: { port: 9001 },
    });
    const s = settings(['--config', 'f.yml', '--data-dir=/f/data', '--listen', '[::1]:9002'], env);
    expect(s).toMatchObject({
      config: resolve('f.yml'),
      dataDir: '/f/data',
      listen: { host: '::1', port: 9002 },
    });
  });

  it('takes a command and its own flags', () => {
    const s = settings(['audit', '--since', '1h', '--repository', 'acme/web'], {});
    expect(s.command).toBe('audit');
    expect(s.flags.get('since')).toBe('1h');
    expect(settings(['validate-config', 'x.yml'], {}).args).toEqual(['x.yml']);
  });

  it('reads only the env variables a command uses', () => {
    const env = { BROKER_CONFIG: '/e/c.yml', BROKER_LISTEN: 'nowhere' };
    expect(settings(['audit'], env).config).toBe('/e/c.yml');
    expect(settings(['validate-config'], { BROKER_DATA_DIR: '/e/d' }).dataDir).toBe(DEFAULT_DATA_DIR);
    expect(settings(['rotate-keys'], { BROKER_LISTEN: '' }).command).toBe('rotate-keys');
    expect(settings(['registry-config'], env).config).toBe('/e/c.yml');
  });

  const bad: [string[], Record<string, string>, string][] = [
    [['--listen', 'nowhere'], {}, '--listen "nowhere" is not HOST:PORT (e.g. 127.0.0.1:8080)'],
    [
      [],
      { BROKER_LISTEN: '127.0.0.1:99999' },
      'BROKER_LISTEN "127.0.0.1:99999" is not HOST:PORT (e.g. 127.0.0.1:8080)',
    ],
    [['--colour', 'x'], {}, 'unknown flag --colour for serve (see npm run broker -- serve --help)'],
    [['-x'], {}, 'unknown flag -x for serve (see npm run broker -- serve --help)'],
    [['--config'], {}, '--config needs a value for serve (see npm run broker -- serve --help)'],
    [['--config='], {}, '--config needs a value for serve (see npm run broker -- serve --help)'],
    [
      ['--config', '--listen', '1:2'],
      {},
      '--config needs a value for serve (see npm run broker -- serve --help)',
    ],
    [['--help=yes'], {}, '--help takes no value for serve (see npm run broker -- serve --help)'],
    [['serve', 'now'], {}, 'serve takes no arguments, got "now" (see npm run broker -- serve --help)'],
    [
      ['launch'],
      {},
      'unknown command "launch": use one of serve, validate-config, audit, revoke, rotate-keys, rotate-key-secret, backup, restore, cache, registry-config (see npm run broker -- --help)',
    ],
    [
      ['audit', '--listen', '1:2'],
      {},
      'unknown flag --listen for audit (see npm run broker -- audit --help)',
    ],
    [
      ['audit', '--storage', 'd'],
      {},
      'unknown flag --storage for audit (see npm run broker -- audit --help)',
    ],
    [['backup', '--out'], {}, '--out needs a value for backup (see npm run broker -- backup --help)'],
    [['audit', '--since'], {}, '--since needs a value for audit (see npm run broker -- audit --help)'],
    [
      ['audit', '--repository'],
      {},
      '--repository needs a value for audit (see npm run broker -- audit --help)',
    ],
    [
      ['rotate-keys', '--since', '1h'],
      {},
      'unknown flag --since for rotate-keys (see npm run broker -- rotate-keys --help)',
    ],
    [
      ['rotate-keys', '--data-dir'],
      {},
      '--data-dir needs a value for rotate-keys (see npm run broker -- rotate-keys --help)',
    ],
    [
      ['validate-config', 'a.yml', 'b.yml'],
      {},
      'validate-config takes at most 1 argument(s), got "b.yml" too (see npm run broker -- validate-config --help)',
    ],
    [
      ['validate-config', '--data-dir', 'd'],
      {},
      'unknown flag --data-dir for validate-config (see npm run broker -- validate-config --help)',
    ],
    [
      ['registry-config', '--storage'],
      {},
      '--storage needs a value for registry-config (see npm run broker -- registry-config --help)',
    ],
    [['registry-config', '--listen', 'x'], {}, '--listen "x" is not HOST:PORT (e.g. 127.0.0.1:8080)'],
    [[], { BROKER_CONFIG: '' }, 'BROKER_CONFIG is set but empty'],
    [['audit'], { BROKER_DATA_DIR: '' }, 'BROKER_DATA_DIR is set but empty'],
  ];
  it.each(bad)('refuses %j %j in one line', (argv, env, want) => {
    const err = refusal(argv, env);
    expect(err.message).toBe(want);
    expect(err.message).not.toContain('\n');
  });
});

describe('--help', () => {
  it.each([['--help'], ['-h']])('%s lists every command and env variable', (flag) => {
    const h = parseSettings([flag], { BROKER_LISTEN: 'nowhere' }) as Help;
    expect(h.help).toBe(BROKER_HELP);
    for (const word of [
      'serve',
      'validate-config',
      'audit',
      'rotate-keys',
      'registry-config',
      '--help',
      'BROKER_CONFIG',
      'BROKER_DATA_DIR',
      'BROKER_LISTEN',
    ])
      expect(h.help).toContain(word);
  });

  const commands: [Command, string[], string[]][] = [
    [
      'serve',
      ['--config FILE', '--data-dir DIR', '--listen HOST:PORT'],
      ['BROKER_CONFIG', 'BROKER_DATA_DIR', 'BROKER_LISTEN'],
    ],
    ['validate-config', ['[FILE]', '--config FILE'], ['BROKER_CONFIG']],
    [
      'audit',
      ['--config FILE', '--data-dir DIR', '--since WHEN', '--repository OWNER/NAME'],
      ['BROKER_CONFIG', 'BROKER_DATA_DIR'],
    ],
    ['rotate-keys', ['--config FILE', '--data-dir DIR'], ['BROKER_CONFIG', 'BROKER_DATA_DIR']],
    ['rotate-key-secret', ['--config FILE'], ['BROKER_CONFIG', 'BROKER_KEY_SECRET', 'BROKER_KEY_SECRET_NEW']],
    ['backup', ['--out FILE', '--config FILE', '--data-dir DIR'], ['BROKER_CONFIG', 'BROKER_DATA_DIR']],
    ['restore', ['--from FILE', '--config FILE', '--data-dir DIR'], ['BROKER_CONFIG', 'BROKER_DATA_DIR']],
    [
      'cache',
      ['--project ID', '--dry-run', '--registry URL', '--registry-config FILE', '--config FILE'],
      ['BROKER_CONFIG', 'BROKER_DATA_DIR'],
    ],
    [
      'registry-config',
      ['--config FILE', '--data-dir DIR', '--listen HOST:PORT', '--storage DIR'],
      ['BROKER_CONFIG', 'BROKER_DATA_DIR'],
    ],
  ];
  const all = [
    'BROKER_CONFIG',
    'BROKER_DATA_DIR',
    'BROKER_LISTEN',
    'BROKER_KEY_SECRET',
    'BROKER_KEY_SECRET_NEW',
  ];
  it.each(commands)(
    '%s --help lists its flags and exactly the env variables it reads',
    (command, flags, env) => {
      for (const flag of ['--help', '-h']) {
        const h = parseSettings([command, flag], { BROKER_LISTEN: 'nowhere' });
        expect(h).toMatchObject({ command });
        const text = (h as Help).help;
        expect(text).toMatch(new RegExp(`^Usage: npm run broker -- ${command} `));
        for (const f of [...flags, '-h, --help']) expect(text).toContain(f);
        for (const e of all) expect(text.includes(e), e).toBe(env.includes(e));
      }
    },
  );

  it('main prints the help on stdout and exits 0', () => {
    const tsx = resolve(REPO_ROOT, 'node_modules', '.bin', 'tsx');
    const main = resolve(REPO_ROOT, 'oidc-broker', 'src', 'main.ts');
    const top = spawnSync(tsx, [main, '--help'], { encoding: 'utf8' });
    expect(top.status, top.stderr).toBe(0);
    expect(top.stdout).toBe(BROKER_HELP);
    const audit = spawnSync(tsx, [main, 'audit', '-h'], { encoding: 'utf8' });
    expect(audit.status, audit.stderr).toBe(0);
    expect(audit.stdout).toContain('Usage: npm run broker -- audit');
    const bad = spawnSync(tsx, [main, 'audit', '--colour'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe('broker: unknown flag --colour for audit (see npm run broker -- audit --help)\n');
  });
});
