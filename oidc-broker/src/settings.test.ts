// Flags, env variables and defaults: flags win over env, env over the embedded defaults; bad values are one line.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors';
import { DEFAULT_CONFIG, DEFAULT_DATA_DIR, parseSettings } from './settings';

describe('parseSettings', () => {
  it('uses the embedded defaults with no flags and no env', () => {
    const s = parseSettings([], {});
    expect(s).toMatchObject({ command: 'serve', config: DEFAULT_CONFIG, dataDir: DEFAULT_DATA_DIR });
    expect(s.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(DEFAULT_CONFIG.endsWith('examples/broker.yml')).toBe(true);
  });

  it('reads BROKER_CONFIG, BROKER_DATA_DIR and BROKER_LISTEN, and flags win', () => {
    const env = { BROKER_CONFIG: '/e/c.yml', BROKER_DATA_DIR: '/e/data', BROKER_LISTEN: '127.0.0.1:9001' };
    expect(parseSettings([], env)).toMatchObject({
      config: '/e/c.yml',
      dataDir: '/e/data',
      listen: { port: 9001 },
    });
    const s = parseSettings(['--config', 'f.yml', '--data-dir=/f/data', '--listen', '[::1]:9002'], env);
    expect(s).toMatchObject({
      config: resolve('f.yml'),
      dataDir: '/f/data',
      listen: { host: '::1', port: 9002 },
    });
  });

  it('takes a command and its own flags', () => {
    const s = parseSettings(['audit', '--since', '1h', '--repository', 'acme/web'], {});
    expect(s.command).toBe('audit');
    expect(s.flags.get('since')).toBe('1h');
    expect(parseSettings(['validate-config', 'x.yml'], {}).args).toEqual(['x.yml']);
  });

  const bad: [string[], Record<string, string>, RegExp][] = [
    [['--listen', 'nowhere'], {}, /^--listen "nowhere" is not HOST:PORT/],
    [[], { BROKER_LISTEN: '127.0.0.1:99999' }, /^BROKER_LISTEN "127.0.0.1:99999" is not HOST:PORT/],
    [['--colour', 'x'], {}, /^unknown flag --colour for serve/],
    [['--config'], {}, /^--config needs a value/],
    [['launch'], {}, /^unknown command "launch"/],
    [['audit', '--listen', '1:2'], {}, /^unknown flag --listen for audit/],
    [[], { BROKER_CONFIG: '' }, /^BROKER_CONFIG is set but empty/],
  ];
  it.each(bad)('refuses %j %j in one line', (argv, env, want) => {
    let err: unknown;
    try {
      parseSettings(argv, env);
    } catch (e: unknown) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(want);
    expect((err as Error).message).not.toContain('\n');
  });
});
