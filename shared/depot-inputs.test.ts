// build-push's and bake's `version` and `manifest-url`: what installs the CLI when it is not on PATH.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { actionVersion, defaultManifestUrl } from './cli-release';
import { getDepotInputs } from './depot-inputs';
import { UserError } from './errors';

const ROOT = join(import.meta.dirname, '..');

afterEach(() => vi.unstubAllEnvs());

function withInputs(inputs: Record<string, string>): void {
  // The runner sets every input that has a default in action.yml.
  const defaults = { save: 'false', 'buildx-fallback': 'false', lint: 'false', 'lint-fail-on': 'error' };
  for (const [k, v] of Object.entries({ ...defaults, ...inputs })) vi.stubEnv(`INPUT_${k.toUpperCase()}`, v);
}

describe('getDepotInputs: version', () => {
  it("empty: the CLI release of this action's own version (package.json's, bundled), else the latest", () => {
    withInputs({});
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(actionVersion()).toBe(pkg.version);
    expect(getDepotInputs().version).toEqual({ kind: 'preferred', version: pkg.version });
  });

  it.each([
    ['latest', { kind: 'latest' }],
    ['v1.2.3', { kind: 'exact', version: '1.2.3' }],
    ['1.x', { kind: 'range', range: '1.x' }],
  ])('"%s" is %j, as setup reads it', (input, want) => {
    withInputs({ version: input });
    expect(getDepotInputs().version).toEqual(want);
  });

  it('anything else fails in one line naming the input', () => {
    withInputs({ version: 'newest' });
    expect(() => getDepotInputs()).toThrow(
      new UserError(
        'Input `version` must be an exact version such as 1.2.3, `latest`, or a semver range such as 1.x; got "newest".',
      ),
    );
  });
});

describe('getDepotInputs: manifest-url', () => {
  it('the input, else DEPOT_MANIFEST_URL, else the latest release of this repository', () => {
    vi.stubEnv('DEPOT_MANIFEST_URL', '');
    withInputs({});
    expect(getDepotInputs()['manifest-url']).toBe(defaultManifestUrl());
    expect(defaultManifestUrl()).toMatch(
      /^https:\/\/github\.com\/[^/]+\/[^/]+\/releases\/latest\/download\/manifest\.json$/,
    );
    vi.stubEnv('DEPOT_MANIFEST_URL', 'http://127.0.0.1:8080/release/manifest.json');
    expect(getDepotInputs()['manifest-url']).toBe('http://127.0.0.1:8080/release/manifest.json');
    withInputs({ 'manifest-url': 'https://mirror.test/depot/manifest.json' });
    expect(getDepotInputs()['manifest-url']).toBe('https://mirror.test/depot/manifest.json');
  });

  it('a URL that is not http(s) fails in one line naming where it came from', () => {
    withInputs({ 'manifest-url': 'ftp://mirror.test/manifest.json' });
    expect(() => getDepotInputs()).toThrow(
      'Input `manifest-url` must be an http(s) URL of a release manifest.json, got "ftp://mirror.test/manifest.json".',
    );
  });
});
