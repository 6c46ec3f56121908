// scripts/install.sh as a CircleCI, GitLab or Buildkite job runs it: a real CLI release (`npm run release:cli`) served
// over HTTP, installed with curl and with wget, the tarball's SHA-256 checked before anything is extracted.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pkg from '../package.json';
import { releaseInto } from '../test/support/release';
import { serveFolder } from '../test/support/static-server';
import type { StubServer } from '../test/support/stub-server';

const script = resolve(import.meta.dirname, 'install.sh');
let dir: string;
let server: StubServer;
let manifest: string;

/** Runs install.sh in a child without blocking this process: the release server answers from it. */
function install(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(
      'sh',
      [script, ...args],
      { encoding: 'utf8', timeout: 120_000, env: { PATH: process.env.PATH ?? '', HOME: dir, ...env } },
      (err, stdout, stderr) => {
        const status = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolvePromise({ status, stdout, stderr });
      },
    );
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'depot-install-sh-'));
  const release = join(dir, 'release');
  releaseInto(release);
  server = await serveFolder(release);
  manifest = `${server.url}/manifest.json`;
}, 600_000);
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('install.sh', () => {
  it('installs the latest version with curl, and the CLI runs', async () => {
    const into = join(dir, 'latest');
    const r = await install(['--manifest-url', manifest, '--dir', into]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`depot ${pkg.version} installed: ${into}/bin/depot (add ${into}/bin to PATH)\n`);
    const v = spawnSync(join(into, 'bin', 'depot'), ['version'], { encoding: 'utf8' });
    expect(v.stdout).toContain(pkg.version);
  });

  it('installs an exact version (with or without a v) with wget alone, from the environment variables', async () => {
    const bin = join(dir, 'no-curl');
    mkdirSync(bin);
    for (const tool of [
      'sh',
      'uname',
      'tr',
      'sed',
      'mktemp',
      'rm',
      'mkdir',
      'tar',
      'gzip',
      'cp',
      'cut',
      'sha256sum',
      'wget',
    ])
      symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
    const into = join(dir, 'exact');
    const r = await install([], {
      PATH: bin,
      DEPOT_VERSION: `v${pkg.version}`,
      DEPOT_MANIFEST_URL: manifest,
      DEPOT_INSTALL_DIR: into,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(existsSync(join(into, 'bin', 'depot'))).toBe(true);
    expect(server.requests.some((q) => /wget/i.test(q.headers['user-agent'] ?? ''))).toBe(true);
  });

  it('refuses a tarball whose SHA-256 is not the manifest’s, installing nothing', async () => {
    const key = `/depot-${pkg.version}-linux-x64.tar.gz`;
    const real = readFileSync(join(dir, 'release', key.slice(1)));
    server.on('GET', key, () => ({ body: Buffer.concat([real, Buffer.from('tampered')]) }));
    try {
      const into = join(dir, 'tampered');
      const r = await install(['--manifest-url', manifest, '--dir', into]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(
        /^depot install: http:\/\/127\.0\.0\.1:\d+\/depot-[^ ]+ has SHA-256 [0-9a-f]{64}, but the manifest says [0-9a-f]{64}: nothing was installed\n$/,
      );
      expect(existsSync(into)).toBe(false);
    } finally {
      server.on('GET', key, () => ({ body: real }));
    }
  });

  it.each([
    [['--version', '9.9.9'], 'version 9.9.9 is not in'],
    [['--version', '1.x'], 'version "1.x" is neither latest nor an exact version such as 1.2.3'],
    [['--bogus'], 'unknown argument --bogus: use --version, --manifest-url or --dir'],
    [['--dir'], '--dir needs a value'],
  ])('refuses %j in one line', async (args, message) => {
    const r = await install(['--manifest-url', manifest, '--dir', join(dir, 'never'), ...args]);
    expect(r.status).toBe(1);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toContain(message);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });

  it('refuses a plain-http manifest on a public host and an unreachable one, naming the fix', async () => {
    const insecure = await install(['--manifest-url', 'http://releases.example.com/manifest.json']);
    expect(insecure.stderr).toContain('the manifest URL must be https (http only on a loopback host)');
    const down = await install([
      '--manifest-url',
      'http://127.0.0.1:9/manifest.json',
      '--dir',
      join(dir, 'down'),
    ]);
    expect(down.status).toBe(1);
    expect(down.stderr).toContain(
      'cannot download the manifest http://127.0.0.1:9/manifest.json: check --manifest-url or DEPOT_MANIFEST_URL',
    );
  });
});
