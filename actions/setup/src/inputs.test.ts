import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UserError } from '../../../shared/errors';
import { parseVersionSpec } from '../../../shared/cli-release';
import { getInputs, unusedInputs } from './inputs';

const ROOT = join(import.meta.dirname, '..', '..', '..');

function withInputs(inputs: Record<string, string>): void {
  for (const [name, value] of Object.entries(inputs)) {
    vi.stubEnv(`INPUT_${name.toUpperCase()}`, value);
  }
}

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('parseVersionSpec', () => {
  it.each([
    ['', { kind: 'latest' }],
    ['latest', { kind: 'latest' }],
    ['LATEST', { kind: 'latest' }],
    ['1.2.3', { kind: 'exact', version: '1.2.3' }],
    ['v1.2.3', { kind: 'exact', version: '1.2.3' }],
    [' 1.2.3 ', { kind: 'exact', version: '1.2.3' }],
    ['1.3.0-rc.1', { kind: 'exact', version: '1.3.0-rc.1' }],
    ['1.x', { kind: 'range', range: '1.x' }],
    ['1.2', { kind: 'range', range: '1.2' }],
    ['^1.2.0', { kind: 'range', range: '^1.2.0' }],
    ['>=1 <3', { kind: 'range', range: '>=1 <3' }],
  ])('"%s" is %j', (input, want) => {
    expect(parseVersionSpec(input)).toEqual(want);
  });

  it.each(['banana', '1.2.3.4', 'newest'])('"%s" fails naming the input and what is allowed', (input) => {
    expect(() => parseVersionSpec(input)).toThrow(
      new UserError(
        `Input \`version\` must be an exact version such as 1.2.3, \`latest\`, or a semver range such as 1.x; got "${input}".`,
      ),
    );
  });
});

describe('getInputs', () => {
  it('reads every input, with the defaults action.yml gives', () => {
    withInputs({ version: 'latest', oidc: 'false', 'configure-docker': 'false' });
    vi.stubEnv('DEPOT_MANIFEST_URL', '');
    expect(getInputs()).toEqual({
      version: { kind: 'latest' },
      'manifest-url': expect.any(String) as string,
      oidc: false,
      project: '',
      'broker-url': '',
      'oidc-audience': '',
      'fork-wait': 60,
      'configure-docker': false,
    });
  });

  it('fork-wait: whole seconds, parsed once; anything else fails in one line naming the input', () => {
    withInputs({ 'fork-wait': '150' });
    expect(getInputs()['fork-wait']).toBe(150);
    withInputs({ 'fork-wait': '2m' });
    expect(() => getInputs()).toThrow(
      'Input `fork-wait` must be a whole number of seconds such as 60, got "2m".',
    );
  });

  it('manifest-url: the input wins over DEPOT_MANIFEST_URL', () => {
    withInputs({ 'manifest-url': 'https://mirror.test/depot/manifest.json' });
    vi.stubEnv('DEPOT_MANIFEST_URL', 'https://other.test/manifest.json');
    expect(getInputs()['manifest-url']).toBe('https://mirror.test/depot/manifest.json');
  });

  it('manifest-url: DEPOT_MANIFEST_URL when the input is empty', () => {
    vi.stubEnv('DEPOT_MANIFEST_URL', 'http://127.0.0.1:8080/release/manifest.json');
    expect(getInputs()['manifest-url']).toBe('http://127.0.0.1:8080/release/manifest.json');
  });

  it('manifest-url: else the latest release of the repository package.json names (a fork changes one field)', () => {
    vi.stubEnv('DEPOT_MANIFEST_URL', '');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      repository: { url: string };
    };
    const repo = new URL(pkg.repository.url).pathname.replace(/^\/|\.git$/g, '');
    expect(getInputs()['manifest-url']).toBe(
      `https://github.com/${repo}/releases/latest/download/manifest.json`,
    );
  });

  it.each([
    [
      { 'manifest-url': 'ftp://mirror.test/manifest.json' },
      {},
      'Input `manifest-url` must be an http(s) URL',
    ],
    [{}, { DEPOT_MANIFEST_URL: 'releases/manifest.json' }, 'DEPOT_MANIFEST_URL must be an http(s) URL'],
    [{ oidc: 'yes' }, {}, 'Input `oidc` must be true or false, got "yes".'],
    [{ 'configure-docker': '1' }, {}, 'Input `configure-docker` must be true or false, got "1".'],
    [{ 'broker-url': 'broker.test' }, {}, 'Input `broker-url` must be an http(s) URL'],
  ])('refuses %j %j in one line', (inputs, env, message) => {
    withInputs(inputs);
    for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
    expect(() => getInputs()).toThrow(UserError);
    expect(() => getInputs()).toThrow(message);
  });

  it('credentials in manifest-url are masked at once', () => {
    const masked: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      const m = /^::add-mask::(.*)$/m.exec(String(chunk));
      if (m?.[1]) masked.push(m[1]);
      return true;
    });
    withInputs({ 'manifest-url': 'https://ci-bot:p%40ss-w0rd@mirror.test/depot/manifest.json' });
    expect(getInputs()['manifest-url']).toBe('https://ci-bot:p%40ss-w0rd@mirror.test/depot/manifest.json');
    expect(masked).toEqual(['ci-bot', 'p@ss-w0rd']);
  });

  it('project, broker-url and oidc-audience without oidc: true are named as ignored', () => {
    withInputs({ project: 'web', 'broker-url': 'https://broker.test' });
    expect(unusedInputs(getInputs())).toEqual([
      'Input `project` is only used with `oidc: true`: it is ignored.',
      'Input `broker-url` is only used with `oidc: true`: it is ignored.',
    ]);
    withInputs({ oidc: 'true' });
    expect(unusedInputs(getInputs())).toEqual([]);
  });

  it('broker-url loses its trailing slash', () => {
    withInputs({ 'broker-url': 'https://broker.test/', oidc: 'true' });
    expect(getInputs()).toMatchObject({ 'broker-url': 'https://broker.test', oidc: true });
  });
});
