// The broker's image (oidc-broker/Dockerfile through `release:broker --image REF --push`), built once for linux/amd64
// and linux/arm64 on the engine's local Debian base, then run on each platform (arm64 under QEMU) with a config file
// and a data volume mounted: it answers /healthz and an exchange, Docker's HEALTHCHECK turns healthy, its process is
// not root, and `docker stop` (SIGTERM) ends it cleanly within the drain time. The container shares the host's
// network so that the broker reaches the local issuer on 127.0.0.1; BROKER_LISTEN moves it off the default 8080.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROKER_NODE_FLAGS, buildImage, DOCKERFILE } from '../../scripts/release-broker';
import { brokerRelease, exchangeAt, minimalBrokerConfig } from '../../test/support/broker-release';
import type { BrokerReleaseDir } from '../../test/support/broker-release';
import { startIssuer } from '../../test/support/issuer';
import type { LocalIssuer } from '../../test/support/issuer';
import { freePort } from '../../test/support/ports';

const BASE = '127.0.0.1:5000/debian-base:bookworm';
let release: BrokerReleaseDir;
let image: string;
let issuer: LocalIssuer;
let dir: string;
const containers: string[] = [];
const volumes: string[] = [];

function docker(args: string[], timeout = 120_000) {
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout });
  return { status: r.status ?? 1, stdout: r.stdout?.trim() ?? '', stderr: r.stderr?.trim() ?? '' };
}

function inRegistry(ref: string): boolean {
  const [host, rest] = [ref.slice(0, ref.indexOf('/')), ref.slice(ref.indexOf('/') + 1)];
  const [name, tag] = rest.split(':') as [string, string];
  const r = spawnSync('curl', [
    '-fsS',
    '-o',
    '/dev/null',
    '-H',
    'Accept: application/vnd.oci.image.index.v1+json',
    '-H',
    'Accept: application/vnd.docker.distribution.manifest.list.v2+json',
    `http://${host}/v2/${name}/manifests/${tag}`,
  ]);
  return r.status === 0;
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms: number,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms / 1000}s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  release = brokerRelease();
  // One image per release and Dockerfile: a rerun with neither changed reuses the one in the registry.
  const key = createHash('sha256')
    .update(basename(release.dir))
    .update(readFileSync(DOCKERFILE))
    .digest('hex')
    .slice(0, 16);
  image = `127.0.0.1:5000/depot-broker:test-${key}`;
  if (!inRegistry(image)) {
    buildImage({ version: release.version, out: release.dir }, { image, push: true, base: BASE });
  }
  issuer = await startIssuer();
  dir = mkdtempSync(join(tmpdir(), 'depot-broker-image-'));
}, 900_000);

afterAll(async () => {
  for (const c of containers) docker(['rm', '-f', c]);
  for (const v of volumes) docker(['volume', 'rm', '-f', v]);
  // The registry keeps it for a rerun; the engine's image store would keep one copy per source change.
  if (image) docker(['image', 'rm', image]);
  await issuer?.stop();
});

describe('the image', () => {
  it('has the service layout: user 10001, port 8080, the data volume, a HEALTHCHECK; its base is an ARG, Debian slim by default', () => {
    const pulled = docker(['pull', '--platform', 'linux/amd64', image], 300_000);
    expect(pulled.status, pulled.stderr).toBe(0);
    const config = JSON.parse(docker(['image', 'inspect', '--format', '{{json .Config}}', image]).stdout) as {
      User: string;
      Env: string[];
      ExposedPorts: Record<string, unknown>;
      Volumes: Record<string, unknown>;
      Healthcheck: { Test: string[] };
      Entrypoint: string[];
      Cmd: string[];
      StopSignal: string;
    };
    expect(config.User).toBe('10001:10001');
    expect(config.Env).toEqual(
      expect.arrayContaining([
        'BROKER_LISTEN=0.0.0.0:8080',
        'BROKER_CONFIG=/etc/depot-broker/broker.yml',
        'BROKER_DATA_DIR=/var/lib/depot-broker',
      ]),
    );
    expect(Object.keys(config.ExposedPorts)).toEqual(['8080/tcp']);
    expect(Object.keys(config.Volumes)).toEqual(['/var/lib/depot-broker']);
    expect(config.Healthcheck.Test[0]).toBe('CMD');
    expect(config.Healthcheck.Test[1]).toBe('/opt/depot-broker/libexec/node');
    expect(config.Entrypoint).toEqual(['/opt/depot-broker/bin/depot-broker']);
    expect(config.Cmd).toEqual(['serve']);
    expect(config.StopSignal).toBe('SIGTERM');
    expect(readFileSync(DOCKERFILE, 'utf8')).toMatch(/^ARG BASE_IMAGE=debian:bookworm-slim$/m);
  });
});

describe.each([
  ['linux/amd64', 'x86_64'],
  ['linux/arm64', 'aarch64'],
])('a container on %s', (platform, machine) => {
  let name: string;
  let url: string;

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const config = join(dir, `broker-${port}.yml`);
    writeFileSync(config, minimalBrokerConfig(issuer.url, url));
    chmodSync(config, 0o644);
    name = `depot-broker-test-${randomBytes(4).toString('hex')}`;
    containers.push(name);
    volumes.push(name);
    const run = docker(
      [
        'run',
        '--detach',
        '--name',
        name,
        '--platform',
        platform,
        '--network',
        'host',
        '--health-interval',
        '1s',
        '--env',
        `BROKER_LISTEN=127.0.0.1:${port}`,
        '--volume',
        `${config}:/etc/depot-broker/broker.yml:ro`,
        '--volume',
        `${name}:/var/lib/depot-broker`,
        image,
      ],
      300_000,
    );
    expect(run.status, run.stderr).toBe(0);
    await until(
      'the broker in the container answering /healthz',
      async () => {
        const ok = await fetch(`${url}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) return true;
        const state = docker(['inspect', '--format', '{{.State.Running}}', name]).stdout;
        if (state !== 'true') throw new Error(`the container stopped:\n${docker(['logs', name]).stderr}`);
        return undefined;
      },
      120_000,
    );
  }, 600_000);

  it('answers /healthz, swaps an OIDC token for a project token and keeps its state in the volume', async () => {
    expect(docker(['exec', name, 'uname', '-m']).stdout).toBe(machine);
    issuer.defaults.aud = url;
    const r = await exchangeAt(url, await issuer.mint());
    expect(r, docker(['logs', name]).stderr).toMatchObject({ status: 200, ok: true });
    expect(r.token?.split('.')).toHaveLength(3);
    expect(docker(['exec', name, 'ls', '/var/lib/depot-broker']).stdout).toMatch(/state\.db/);
  });

  it("turns healthy through the image's HEALTHCHECK", async () => {
    await until(
      'the healthy state',
      () =>
        docker(['inspect', '--format', '{{.State.Health.Status}}', name]).stdout === 'healthy'
          ? true
          : undefined,
      60_000,
    );
  });

  it("runs as depot-broker (uid 10001), with the broker as PID 1 and the launcher's young generation", () => {
    expect(docker(['exec', name, 'id', '-u']).stdout).toBe('10001');
    expect(docker(['exec', name, 'id', '-un']).stdout).toBe('depot-broker');
    const status = docker(['exec', name, 'cat', '/proc/1/status']).stdout;
    expect(status).toMatch(/^Uid:\s+10001\s+10001\s+10001\s+10001$/m);
    // Under QEMU (arm64) the kernel runs qemu-aarch64 with the node binary as an argument: the tail is the same.
    const cmdline = docker(['exec', name, 'cat', '/proc/1/cmdline']).stdout.split('\0').filter(Boolean);
    expect(cmdline.slice(-3 - BROKER_NODE_FLAGS.length)).toEqual([
      '/opt/depot-broker/libexec/node',
      ...BROKER_NODE_FLAGS,
      '/opt/depot-broker/lib/index.js',
      'serve',
    ]);
    expect(cmdline.join(' ')).not.toMatch(/\bsh\b/);
  });

  it('stops on `docker stop` (SIGTERM) with exit code 0 within the drain time', () => {
    const start = Date.now();
    const stop = docker(['stop', '--time', '20', name]);
    const took = Date.now() - start;
    expect(stop.status, stop.stderr).toBe(0);
    expect(took).toBeLessThan(12_000);
    expect(docker(['inspect', '--format', '{{.State.ExitCode}}', name]).stdout).toBe('0');
  });
});
