import { afterEach, describe, expect, it, vi } from 'vitest';
import { getBoolean, getChoice, getList, getSeconds, parseList, parseSeconds, parseUrl } from './inputs';

afterEach(() => vi.unstubAllEnvs());

describe('parseList splits as docker/build-push-action v6 does', () => {
  it.each([
    ['', {}, []],
    ['a,b\nc', {}, ['a', 'b', 'c']],
    ['  a , b  \n\n c ', {}, ['a', 'b', 'c']],
    ['type=registry,ref=x,mode=max', { ignoreComma: true }, ['type=registry,ref=x,mode=max']],
    [
      'type=registry,ref=x,mode=max\ntype=gha',
      { ignoreComma: true },
      ['type=registry,ref=x,mode=max', 'type=gha'],
    ],
    ['"a,b",c', {}, ['a,b', 'c']],
    ['ARG="x,y"\nB=2', { ignoreComma: true }, ['ARG="x,y"', 'B=2']],
    ['"name=a,b",c', { ignoreComma: true }, ['name=a,b,c']],
    ['type=local,dest="./out"', { ignoreComma: true, quote: false as const }, ['type=local,dest="./out"']],
    ['KEY= spaced value ', { ignoreComma: true, trimWhitespace: false }, ['KEY= spaced value ']],
    ['linux/amd64,linux/arm64', {}, ['linux/amd64', 'linux/arm64']],
    ['user/app:latest\nuser/app:1.0.0,user/app:1', {}, ['user/app:latest', 'user/app:1.0.0', 'user/app:1']],
  ])('%j %j', (input, opts, want) => {
    expect(parseList(input, opts)).toEqual(want);
  });

  it('reads the input the runner passes as INPUT_<NAME>', () => {
    vi.stubEnv('INPUT_CACHE-TO', 'type=registry,ref=r/c:1,mode=max\n');
    expect(getList('cache-to', { ignoreComma: true })).toEqual(['type=registry,ref=r/c:1,mode=max']);
  });
});

describe('booleans follow the YAML 1.2 core schema', () => {
  it.each([
    ['true', true],
    ['True', true],
    ['TRUE', true],
    ['false', false],
    ['False', false],
    ['FALSE', false],
    ['', false],
  ])('%s', (value, want) => {
    vi.stubEnv('INPUT_PUSH', value);
    expect(getBoolean('push')).toBe(want);
  });

  it.each(['yes', 'on', '1', 'tru'])('refuses %s, naming the input', (value) => {
    vi.stubEnv('INPUT_PUSH', value);
    expect(() => getBoolean('push')).toThrow(`Input \`push\` must be true or false, got "${value}".`);
  });
});

describe('choices', () => {
  it('accepts aliases and refuses others with the allowed values', () => {
    vi.stubEnv('INPUT_LINT-FAIL-ON', 'warning');
    expect(getChoice('lint-fail-on', ['error', 'warn'] as const, { aliases: { warning: 'warn' } })).toBe(
      'warn',
    );
    vi.stubEnv('INPUT_LINT-FAIL-ON', 'fatal');
    expect(() => getChoice('lint-fail-on', ['error', 'warn'] as const)).toThrow(
      'Input `lint-fail-on` must be one of error, warn; got "fatal".',
    );
  });
});

describe('URLs', () => {
  it('strips a trailing slash and refuses what is not http(s)', () => {
    expect(parseUrl('broker-url', 'https://broker.example.com/')).toBe('https://broker.example.com');
    expect(() => parseUrl('broker-url', 'ftp://x')).toThrow('Input `broker-url` must be an http(s) URL');
    expect(() => parseUrl('broker-url', 'not a url')).toThrow('Input `broker-url` must be an http(s) URL');
  });
});

describe('seconds', () => {
  it.each([
    ['', 60],
    ['0', 0],
    ['90', 90],
    [' 120 ', 120],
  ])('%j is %i', (value, want) => {
    expect(parseSeconds('fork-wait', value, 60)).toBe(want);
  });

  it.each(['1.5', '-1', '60s', 'one minute', '1e3', '0x10'])(
    '%j is refused in one line naming the input',
    (value) => {
      expect(() => parseSeconds('fork-wait', value, 60)).toThrow(
        `Input \`fork-wait\` must be a whole number of seconds such as 60, got "${value}".`,
      );
    },
  );

  it('reads the input the runner passes', () => {
    vi.stubEnv('INPUT_FORK-WAIT', '45');
    expect(getSeconds('fork-wait', 60)).toBe(45);
  });
});
