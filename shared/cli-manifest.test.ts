import { describe, expect, it } from 'vitest';
import { parseBuildVersionSpec, parseVersionSpec } from './cli-release';
import { buildFor, parseManifest, redactUrl, resolveVersion } from './cli-manifest';
import { UserError } from './errors';

const SOURCE = 'https://releases.test/depot/manifest.json';
const sha = (c: string) => c.repeat(64);

const manifestText = JSON.stringify({
  latest: '1.2.0',
  versions: {
    '1.0.0': { 'linux-x64': { url: 'depot-1.0.0-linux-x64.tar.gz', sha256: sha('a') } },
    '1.2.0': {
      'linux-x64': { url: 'depot-1.2.0-linux-x64.tar.gz', sha256: sha('B') },
      'linux-arm64': { url: 'https://mirror.test/x/depot-1.2.0-linux-arm64.tar.gz', sha256: sha('c') },
    },
    '1.3.0-rc.1': { 'linux-x64': { url: '../rc/depot-1.3.0-rc.1.tar.gz', sha256: sha('d') } },
    '2.0.0': { 'linux-x64': { url: 'depot-2.0.0-linux-x64.tar.gz', sha256: sha('e') } },
  },
});

describe('parseManifest', () => {
  it('resolves relative urls against the manifest URL, keeps absolute ones, lower-cases checksums', () => {
    const m = parseManifest(manifestText, SOURCE);
    expect(m.latest).toBe('1.2.0');
    expect(m.versions['1.2.0']).toEqual({
      'linux-x64': { url: 'https://releases.test/depot/depot-1.2.0-linux-x64.tar.gz', sha256: sha('b') },
      'linux-arm64': { url: 'https://mirror.test/x/depot-1.2.0-linux-arm64.tar.gz', sha256: sha('c') },
    });
    expect(m.versions['1.3.0-rc.1']?.['linux-x64']?.url).toBe(
      'https://releases.test/rc/depot-1.3.0-rc.1.tar.gz',
    );
  });

  it('takes the highest version as latest when the manifest does not say', () => {
    const m = parseManifest(
      JSON.stringify({
        versions: {
          '0.9.0': { 'linux-x64': { url: 'a.tgz', sha256: sha('a') } },
          '0.10.0': { 'linux-x64': { url: 'b.tgz', sha256: sha('b') } },
        },
      }),
      SOURCE,
    );
    expect(m.latest).toBe('0.10.0');
  });

  it.each([
    ['not JSON', '<html>Not Found</html>', 'it is not JSON'],
    ['no versions', '{"latest":"1.0.0"}', 'it has no `versions` object'],
    ['empty versions', '{"versions":{}}', 'it lists no versions'],
    ['a version that is not semver', '{"versions":{"banana":{}}}', '`versions` has "banana"'],
    [
      'a build without sha256',
      '{"versions":{"1.0.0":{"linux-x64":{"url":"a.tgz"}}}}',
      '`versions.1.0.0.linux-x64` has no valid sha256',
    ],
    [
      'a short sha256',
      `{"versions":{"1.0.0":{"linux-x64":{"url":"a.tgz","sha256":"abc123"}}}}`,
      '`versions.1.0.0.linux-x64` has no valid sha256',
    ],
    [
      'a build without url',
      `{"versions":{"1.0.0":{"linux-x64":{"sha256":"${sha('a')}"}}}}`,
      '`versions.1.0.0.linux-x64` has no url',
    ],
    [
      'a non-http url',
      `{"versions":{"1.0.0":{"linux-x64":{"url":"file:///etc/passwd","sha256":"${sha('a')}"}}}}`,
      '`versions.1.0.0.linux-x64` is not an http(s) url',
    ],
    [
      'latest not listed',
      `{"latest":"3.0.0","versions":{"1.0.0":{"linux-x64":{"url":"a.tgz","sha256":"${sha('a')}"}}}}`,
      '`latest` is 3.0.0, which `versions` does not list',
    ],
  ])('refuses %s in one line naming the problem', (_name, text, problem) => {
    let thrown: unknown;
    try {
      parseManifest(text, SOURCE);
    } catch (err: unknown) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(UserError);
    const message = (thrown as Error).message;
    expect(message).toContain(`The release manifest at ${SOURCE} is not usable: ${problem}`);
    expect(message).not.toContain('\n');
  });
});

describe('resolveVersion', () => {
  const m = parseManifest(manifestText, SOURCE);

  it.each([
    ['latest', '1.2.0'],
    ['', '1.2.0'],
    ['1.x', '1.2.0'],
    ['1', '1.2.0'],
    ['^1.0.0', '1.2.0'],
    ['~1.0', '1.0.0'],
    ['>=1.0.0', '2.0.0'],
    ['1.0.0', '1.0.0'],
    ['v2.0.0', '2.0.0'],
    ['1.3.0-rc.1', '1.3.0-rc.1'],
  ])('version "%s" selects %s', (input, want) => {
    expect(resolveVersion(m, parseVersionSpec(input))).toBe(want);
  });

  it('an unknown exact version fails and lists the versions there are', () => {
    expect(() => resolveVersion(m, parseVersionSpec('9.9.9'))).toThrow(
      new UserError(
        `depot 9.9.9 does not exist: the manifest at ${SOURCE} has 2.0.0, 1.3.0-rc.1, 1.2.0, 1.0.0. Set \`version\` to one of them.`,
      ),
    );
  });

  it.each([
    ['1.0.0', '1.0.0'],
    ['2.0.0', '2.0.0'],
    ['1.1.0', '1.2.0'],
    ['7.0.0', '1.2.0'],
  ])(
    "build-push's default (the action's own version %s when listed, else latest) selects %s",
    (own, want) => {
      expect(resolveVersion(m, parseBuildVersionSpec('', own))).toBe(want);
    },
  );

  it('a range nothing satisfies fails and lists the versions there are', () => {
    expect(() => resolveVersion(m, parseVersionSpec('3.x'))).toThrow(
      `No depot version matches "3.x": the manifest at ${SOURCE} has 2.0.0, 1.3.0-rc.1, 1.2.0, 1.0.0.`,
    );
  });
});

describe('buildFor', () => {
  const m = parseManifest(manifestText, SOURCE);
  it('returns the build for the platform', () => {
    expect(buildFor(m, '1.2.0', 'linux-arm64').sha256).toBe(sha('c'));
  });
  it('names the platforms there are when this one has no build', () => {
    expect(() => buildFor(m, '1.2.0', 'darwin-arm64')).toThrow(
      'depot 1.2.0 has no build for darwin-arm64 (it has linux-arm64, linux-x64)',
    );
  });
});

describe('redactUrl', () => {
  it('drops credentials and query strings from URLs shown in messages', () => {
    expect(redactUrl('https://user:s3cret@releases.test/m.json?X-Amz-Signature=abc#x')).toBe(
      'https://releases.test/m.json?…',
    );
    expect(redactUrl('http://127.0.0.1:8080/manifest.json')).toBe('http://127.0.0.1:8080/manifest.json');
  });
});
