// `npm run release:broker`'s tarballs, as a machine without Node would use them: what each holds (its own
// architecture's Node, no native module), SHA256SUMS, the x64 launcher run with no node on PATH (--help,
// validate-config, a broker serving /healthz and an exchange from a temp data dir, SIGTERM), the arm64 one under QEMU
// in the engine's Debian arm64 base, and pino's worker transports in a bundle made the same way.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerReleaseDir } from '../test/support/broker-release';
import { brokerRelease, exchangeAt, minimalBrokerConfig } from '../test/support/broker-release';
import { startIssuer } from '../test/support/issuer';
import type { LocalIssuer } from '../test/support/issuer';
import { freePort } from '../test/support/ports';
import { bundle, WORKERS } from './release-broker';

const DEBIAN_BASE = '127.0.0.1:5000/debian-base:bookworm';
let release: BrokerReleaseDir;
let dir: string;
/** The unpacked release of each target. */
const unpacked: Record<string, string> = {};
/** A PATH with only what the launcher uses: no node. */
let bareBin: string;

function listing(tarball: string): string[] {
  return execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n').sort();
}

/** The ELF e_machine of a file: 62 x86-64, 183 aarch64. */
function elfMachine(file: string): number {
  const head = readFileSync(file).subarray(0, 20);
  expect(head.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  return head.readUInt16LE(18);
}

function launch(target: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync(join(unpacked[target] as string, 'bin', 'depot-broker'), args, {
    encoding: 'utf8',
    env: { PATH: bareBin, ...env },
    timeout: 60_000,
  });
}

beforeAll(() => {
  release = brokerRelease();
  dir = mkdtempSync(join(tmpdir(), 'depot-broker-release-'));
  for (const [key, tarball] of Object.entries(release.tarballs)) {
    const into = join(dir, key);
    mkdirSync(into);
    execFileSync('tar', ['-xzf', tarball, '-C', into]);
    unpacked[key] = join(into, `depot-broker-${release.version}-${key}`);
  }
  bareBin = join(dir, 'bin');
  mkdirSync(bareBin);
  for (const tool of ['readlink', 'dirname']) symlinkSync(`/usr/bin/${tool}`, join(bareBin, tool));
}, 600_000);

describe('the tarballs', () => {
  it('each holds the launcher, the bundle and its workers, its own Node and no native module', () => {
    for (const key of ['linux-x64', 'linux-arm64']) {
      const top = `depot-broker-${release.version}-${key}/`;
      const files = listing(release.tarballs[key] as string).filter((f) => !f.endsWith('/'));
      expect(files).toEqual(
        [
          'LICENSE',
          'bin/depot-broker',
          'lib/index.js',
          'lib/licenses.txt',
          'lib/package.json',
          ...Object.values(WORKERS).map((w) => `lib/workers/${w.file}`),
          'libexec/node',
        ]
          .map((f) => top + f)
          .sort(),
      );
      expect(files.filter((f) => f.endsWith('.node'))).toEqual([]);
      const code = readFileSync(join(unpacked[key] as string, 'lib', 'index.js'), 'utf8');
      expect(code).not.toMatch(/better_sqlite3\.node/);
    }
    expect(elfMachine(join(unpacked['linux-x64'] as string, 'libexec', 'node'))).toBe(62);
    expect(elfMachine(join(unpacked['linux-arm64'] as string, 'libexec', 'node'))).toBe(183);
  });

  it('SHA256SUMS lists both with their digests', () => {
    const sums = readFileSync(join(release.dir, 'SHA256SUMS'), 'utf8');
    const expected = Object.values(release.tarballs).map(
      (f) => `${createHash('sha256').update(readFileSync(f)).digest('hex')}  ${f.split('/').pop()}`,
    );
    expect(sums).toBe(`${expected.join('\n')}\n`);
  });
});

describe('the x64 launcher, with no node on PATH', () => {
  it('runs --help and validate-config on its bundled Node, with the installed defaults', () => {
    expect(spawnSync('sh', ['-c', 'command -v node'], { env: { PATH: bareBin } }).status).not.toBe(0);
    const help = launch('linux-x64', ['--help']);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('/etc/depot-broker/broker.yml');
    expect(help.stdout).toContain('/var/lib/depot-broker');
    const config = join(dir, 'valid.yml');
    writeFileSync(
      config,
      minimalBrokerConfig('https://token.actions.githubusercontent.com', 'http://127.0.0.1:8080'),
    );
    const ok = launch('linux-x64', ['validate-config', config]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`${config}: ok (1 issuer(s), 1 project(s), 1 rule(s))`);
    const bad = launch('linux-x64', ['validate-config', join(dir, 'missing.yml')]);
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });

  describe('serving', () => {
    let issuer: LocalIssuer;
    let broker: ChildProcess;
    let url: string;
    let log = '';

    beforeAll(async () => {
      issuer = await startIssuer();
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      issuer.defaults.aud = url;
      const config = join(dir, 'broker.yml');
      writeFileSync(config, minimalBrokerConfig(issuer.url, url));
      broker = spawn(join(unpacked['linux-x64'] as string, 'bin', 'depot-broker'), [], {
        env: {
          PATH: bareBin,
          BROKER_CONFIG: config,
          BROKER_DATA_DIR: join(dir, 'data'),
          BROKER_LISTEN: `127.0.0.1:${port}`,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      broker.stdout?.on('data', (d: Buffer) => (log += d.toString()));
      broker.stderr?.on('data', (d: Buffer) => (log += d.toString()));
      const end = Date.now() + 30_000;
      for (;;) {
        const ok = await fetch(`${url}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) break;
        if (Date.now() > end || broker.exitCode !== null)
          throw new Error(`the broker did not start:\n${log}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    });

    afterAll(async () => {
      if (broker && broker.exitCode === null) broker.kill('SIGKILL');
      await issuer?.stop();
    });

    it('answers /healthz and swaps an OIDC token for a project token, keeping its state in the data dir', async () => {
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ ok: true });
      const r = await exchangeAt(url, await issuer.mint());
      expect(r, log).toMatchObject({ status: 200, ok: true });
      expect(r.token?.split('.')).toHaveLength(3);
      const refused = await exchangeAt(url, await issuer.mint({ repository: 'acme/other' }));
      expect(refused.ok).toBe(false);
      expect(execFileSync('ls', [join(dir, 'data')], { encoding: 'utf8' })).toMatch(/state\.db/);
    });

    it('exits 0 on SIGTERM (the launcher execs Node: the broker itself gets the signal)', async () => {
      const exited = new Promise<number | null>((r) => broker.once('exit', (code) => r(code)));
      broker.kill('SIGTERM');
      expect(await exited).toBe(0);
    });
  });
});

describe('the arm64 launcher', () => {
  it('runs --help on its bundled Node under QEMU, in the Debian arm64 base', () => {
    const r = spawnSync(
      'docker',
      [
        'run',
        '--rm',
        '--platform',
        'linux/arm64',
        '--network',
        'none',
        '-v',
        `${unpacked['linux-arm64']}:/opt/depot-broker:ro`,
        DEBIAN_BASE,
        'sh',
        '-c',
        'uname -m && /opt/depot-broker/bin/depot-broker --help',
      ],
      { encoding: 'utf8', timeout: 300_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^aarch64\n/);
    expect(r.stdout).toContain('/etc/depot-broker/broker.yml');
  });
});

describe("pino's worker transports in a bundle", () => {
  it('a pino.transport() to pino/file writes its lines from the bundled worker files', () => {
    const work = mkdtempSync(join(tmpdir(), 'depot-bundle-'));
    // The entry must sit in the repository for ncc to resolve pino from its node_modules.
    mkdirSync(join(import.meta.dirname, '..', '.tmp'), { recursive: true });
    const fixtures = mkdtempSync(join(import.meta.dirname, '..', '.tmp', 'pino-bundle-'));
    const entry = join(fixtures, 'entry.js');
    writeFileSync(
      entry,
      [
        "import pino from 'pino';",
        "const log = pino(pino.transport({ target: 'pino/file', options: { destination: process.argv[2] } }));",
        "log.info({ from: 'the bundle' }, 'hello');",
        '',
      ].join('\n'),
    );
    const lib = join(work, 'lib');
    bundle(entry, lib, work);
    const out = join(work, 'out.log');
    const node = join(unpacked['linux-x64'] as string, 'libexec', 'node');
    const r = spawnSync(node, [join(lib, 'index.js'), out], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ from: 'the bundle', msg: 'hello' });
    execFileSync('rm', ['-rf', fixtures]);
  });
});
