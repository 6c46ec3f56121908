// The builder probe in-process (a recorded fake exec: what is asked, when it is kept for the job) and through the
// CLI bundle with the docker stand-in (test/support/standins/docker, STANDIN_BUILDX_DRIVER / STANDIN_IMAGE_STORE):
// on the classic image store the docker driver reads the project cache and does not write it, warned once.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { bundlePath } from '../../test/support/bundles';
import { projectToken } from '../test/tokens';
import {
  BuilderProbe,
  cacheExportAllowed,
  classicStoreWarning,
  exportsCache,
  INFO_FORMAT,
  MAX_AGE_MS,
  parseImageStore,
  parseInspect,
  probeCacheDir,
} from './builder-probe';
import type { ProbeExec } from './builder-probe';
import { cacheFlags } from './cache';
import { DOCKER_FACTS_ENV } from '../../shared/contract/docker-facts';
import { CACHE_PROBED_ENV, probedMark } from '../../shared/cache-probe';
import { readProjectToken } from './token';

// Captured from the engine (docker 28.5.2, buildx 0.29.1): the default builder, and `docker info --format
// INFO_FORMAT` on the containerd image store and on a second dockerd with containerd-snapshotter=false.
const INSPECT_DEFAULT = `Name:          default
Driver:        docker
Last Activity: 2026-11-30 22:28:12 +0000 UTC

Nodes:
Name:             default
Endpoint:         default
Status:           running
BuildKit version: v0.0.0+unknown
Platforms:        linux/amd64, linux/amd64/v2, linux/amd64/v3, linux/amd64/v4, linux/arm64
`;
const INFO_CONTAINERD = 'overlayfs\t[["driver-type","io.containerd.snapshotter.v1"]]\n';
const INFO_CLASSIC =
  'overlay2\t[["Backing Filesystem","extfs"],["Supports d_type","true"],["Using metacopy","false"],["Native Overlay Diff","true"],["userxattr","false"]]\n';

describe('parsing what docker prints', () => {
  it('reads the name, driver and endpoint of `buildx inspect`', () => {
    expect(parseInspect(INSPECT_DEFAULT)).toEqual({ name: 'default', driver: 'docker', endpoint: 'default' });
    const remote = 'Name:   ci\nDriver: remote\n\nNodes:\nName: ci0\nEndpoint: tcp://127.0.0.1:1234\n';
    expect(parseInspect(remote)).toEqual({ name: 'ci', driver: 'remote', endpoint: 'tcp://127.0.0.1:1234' });
    expect(parseInspect('ERROR: no builder "x" found\n')).toBeUndefined();
  });

  it.each<[string, string, string | undefined]>([
    ['the containerd image store', INFO_CONTAINERD, 'containerd'],
    ['the classic store (overlay2)', INFO_CLASSIC, 'classic'],
    ['the classic store with no status', 'vfs\tnull\n', 'classic'],
    ['no tab', 'overlay2\n', undefined],
    ['not JSON', 'overlay2\t[[\n', undefined],
    ['a JSON object', 'overlay2\t{}\n', undefined],
  ])('%s', (_name, out, store) => {
    expect(parseImageStore(out)).toBe(store);
  });

  it.each<[string, { name: string; driver: string; store?: 'classic' | 'containerd' } | undefined, boolean]>([
    ['docker driver, classic store', { name: 'default', driver: 'docker', store: 'classic' }, false],
    ['docker driver, containerd store', { name: 'default', driver: 'docker', store: 'containerd' }, true],
    ['docker-container', { name: 'b', driver: 'docker-container' }, true],
    ['remote', { name: 'b', driver: 'remote' }, true],
    ['unknown', undefined, true],
  ])('exports cache: %s', (_name, facts, ok) => {
    expect(exportsCache(facts)).toBe(ok);
  });

  it('names both fixes in one line', () => {
    const w = classicStoreWarning({ name: 'default', driver: 'docker', store: 'classic' });
    expect(w).not.toContain('\n');
    expect(w).toContain('docker/setup-buildx-action');
    expect(w).toContain('containerd image store');
    expect(w).toContain('"containerd-snapshotter":true');
  });

  it('leaves out only --cache-to when the builder cannot export', async () => {
    const token = readProjectToken(await projectToken());
    expect(cacheFlags(token, 'k', false)).toEqual({
      cacheFrom: 'type=registry,ref=localhost:5001/cache/web:k',
    });
  });
});

/** A fake docker for the probe: answers inspect and info, records each call. */
function fakeDocker(driver = 'docker', info = INFO_CLASSIC, fail = false) {
  const calls: string[][] = [];
  const exec: ProbeExec = (_cmd, args) => {
    calls.push([...args]);
    const i = args.indexOf('info');
    const stdout =
      args[0] === 'buildx'
        ? INSPECT_DEFAULT.replace('Driver:        docker', `Driver:        ${driver}`)
        : '';
    return Promise.resolve({
      exitCode: fail ? 1 : 0,
      stdout: i >= 0 ? info : stdout,
      lastStderrLine: fail ? 'ERROR: Cannot connect to the Docker daemon' : '',
    });
  };
  return { calls, exec };
}

function githubJob(dir = mkdtempSync(join(tmpdir(), 'depot-probe-'))): NodeJS.ProcessEnv {
  mkdirSync(join(dir, 'runner-temp'), { recursive: true });
  return {
    HOME: dir,
    GITHUB_ACTIONS: 'true',
    RUNNER_TEMP: join(dir, 'runner-temp'),
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_JOB: 'build',
    DOCKER_HOST: `unix://${join(dir, 'docker.sock')}`,
  };
}

describe('BuilderProbe', () => {
  it('asks inspect then info for the docker driver, and keeps the answer for the rest of the GitHub job', async () => {
    const env = githubJob();
    const docker = fakeDocker();
    const first = await new BuilderProbe(env, { exec: docker.exec }).facts();
    expect(first).toEqual({ name: 'default', driver: 'docker', store: 'classic' });
    expect(docker.calls).toEqual([
      ['buildx', 'inspect'],
      ['info', '--format', INFO_FORMAT],
    ]);
    // A second depot command in the same job: nothing asked.
    expect(await new BuilderProbe(env, { exec: docker.exec }).facts()).toEqual(first);
    expect(docker.calls).toHaveLength(2);
    const kept = readdirSync(join(env.RUNNER_TEMP as string, 'depot'));
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatch(/^builder-[0-9a-f]{64}\.json$/);
  });

  it.each<[string, (env: NodeJS.ProcessEnv) => NodeJS.ProcessEnv, string | undefined]>([
    ['another builder (--builder)', (e) => e, 'ci'],
    ['another builder (BUILDX_BUILDER)', (e) => ({ ...e, BUILDX_BUILDER: 'ci' }), undefined],
    ['another DOCKER_HOST', (e) => ({ ...e, DOCKER_HOST: 'tcp://127.0.0.1:2375' }), undefined],
    ['another docker context', (e) => ({ ...e, DOCKER_CONTEXT: 'remote' }), undefined],
    ['another job', (e) => ({ ...e, GITHUB_JOB: 'test' }), undefined],
  ])('asks again for %s', async (_name, change, builder) => {
    const env = githubJob();
    const docker = fakeDocker();
    await new BuilderProbe(env, { exec: docker.exec }).facts();
    await new BuilderProbe(change(env), { exec: docker.exec }).facts(builder);
    expect(docker.calls.filter((c) => c.includes('inspect'))).toHaveLength(2);
    expect(docker.calls.find((c) => c.includes('inspect') && c.length > 2)).toEqual(
      builder ? ['buildx', 'inspect', '--builder', builder] : undefined,
    );
  });

  it('asks again after docker/setup-buildx-action selects a builder (the name in buildx/current)', async () => {
    const env = githubJob();
    const docker = fakeDocker();
    const current = join(env.HOME as string, '.docker', 'buildx', 'current');
    mkdirSync(join(env.HOME as string, '.docker', 'buildx'), { recursive: true });
    writeFileSync(current, '{"Key":"unix:///var/run/docker.sock","Name":"","Global":false}');
    await new BuilderProbe(env, { exec: docker.exec }).facts();
    // buildx rewrites the Key for whichever daemon a command used: not a new builder.
    writeFileSync(current, '{"Key":"unix:///tmp/other.sock","Name":"","Global":false}');
    await new BuilderProbe(env, { exec: docker.exec }).facts();
    expect(docker.calls.filter((c) => c.includes('inspect'))).toHaveLength(1);
    writeFileSync(current, '{"Key":"unix:///var/run/docker.sock","Name":"builder-1","Global":false}');
    await new BuilderProbe(env, { exec: docker.exec }).facts();
    expect(docker.calls.filter((c) => c.includes('inspect'))).toHaveLength(2);
  });

  it('asks again when dockerd was restarted (its socket is a new one)', async () => {
    const env = githubJob();
    const sock = (env.DOCKER_HOST as string).slice('unix://'.length);
    const listen = async () => {
      const server = createNetServer();
      await new Promise<void>((r) => server.listen(sock, r));
      return server;
    };
    const docker = fakeDocker();
    let daemon = await listen();
    await new BuilderProbe(env, { exec: docker.exec }).facts();
    await new BuilderProbe(env, { exec: docker.exec }).facts();
    expect(docker.calls.filter((c) => c.includes('inspect'))).toHaveLength(1);
    await new Promise((r) => daemon.close(r));
    await new Promise((r) => setTimeout(r, 20));
    daemon = await listen();
    await new BuilderProbe(env, { exec: docker.exec }).facts();
    await new Promise((r) => daemon.close(r));
    expect(docker.calls.filter((c) => c.includes('inspect'))).toHaveLength(2);
  });

  it('does not ask the daemon about other drivers', async () => {
    const docker = fakeDocker('docker-container');
    expect(await new BuilderProbe(githubJob(), { exec: docker.exec }).facts('ci')).toEqual({
      name: 'default',
      driver: 'docker-container',
    });
    expect(docker.calls).toEqual([['buildx', 'inspect', '--builder', 'ci']]);
  });

  it('asks a named docker context for the daemon behind a docker-driver builder of that context', async () => {
    const docker = fakeDocker();
    const exec: ProbeExec = (cmd, args, opts) =>
      args[0] === 'buildx'
        ? Promise.resolve({
            exitCode: 0,
            stdout: INSPECT_DEFAULT.replace('Endpoint:         default', 'Endpoint:         ci-host'),
            lastStderrLine: '',
          })
        : docker.exec(cmd, args, opts);
    await new BuilderProbe(githubJob(), { exec }).facts();
    expect(docker.calls).toEqual([['--context', 'ci-host', 'info', '--format', INFO_FORMAT]]);
  });

  it('decides nothing and keeps nothing when docker cannot answer', async () => {
    const env = githubJob();
    const docker = fakeDocker('docker', INFO_CLASSIC, true);
    expect(await new BuilderProbe(env, { exec: docker.exec }).facts()).toBeUndefined();
    expect(existsSync(join(env.RUNNER_TEMP as string, 'depot'))).toBe(false);
    expect(await cacheExportAllowed(env, undefined, { exec: docker.exec })).toBe(true);
  });

  it('asks on every command outside a CI job (a developer machine)', async () => {
    const env = { HOME: mkdtempSync(join(tmpdir(), 'depot-probe-')) };
    expect(probeCacheDir(env)).toBeUndefined();
    const docker = fakeDocker();
    await new BuilderProbe(env, { exec: docker.exec }).facts();
    await new BuilderProbe(env, { exec: docker.exec }).facts();
    expect(docker.calls.filter((c) => c.includes('inspect'))).toHaveLength(2);
  });

  it("keeps it under another CI's job id in depot's cache dir, and sweeps answers older than a day", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'depot-probe-'));
    const env = { HOME: dir, GITLAB_CI: 'true', CI_JOB_ID: '77', DEPOT_CACHE_DIR: join(dir, 'cache') };
    expect(probeCacheDir(env)).toEqual({ dir: join(dir, 'cache'), job: 'gitlab/77' });
    const docker = fakeDocker();
    await new BuilderProbe(env, { exec: docker.exec }).facts();
    await new BuilderProbe(env, { exec: docker.exec }).facts();
    expect(docker.calls.filter((c) => c.includes('inspect'))).toHaveLength(1);
    const [file] = readdirSync(join(dir, 'cache'));
    const old = new Date(Date.now() - MAX_AGE_MS - 60_000);
    utimesSync(join(dir, 'cache', file as string), old, old);
    await new BuilderProbe(env, { exec: docker.exec }).facts();
    expect(docker.calls.filter((c) => c.includes('inspect'))).toHaveLength(2);
  });

  it('ignores a kept file that is not an answer', async () => {
    const env = githubJob();
    const docker = fakeDocker();
    await new BuilderProbe(env, { exec: docker.exec }).facts();
    const dir = join(env.RUNNER_TEMP as string, 'depot');
    const [file] = readdirSync(dir);
    writeFileSync(join(dir, file as string), '{"driver": 1}');
    expect(await new BuilderProbe(env, { exec: docker.exec }).facts()).toEqual({
      name: 'default',
      driver: 'docker',
      store: 'classic',
    });
    expect(docker.calls.filter((c) => c.includes('inspect'))).toHaveLength(2);
  });

  it('warns once and refuses the export for the docker driver on the classic store', async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      expect(await cacheExportAllowed(githubJob(), undefined, { exec: fakeDocker().exec })).toBe(false);
      expect(
        await cacheExportAllowed(githubJob(), undefined, {
          exec: fakeDocker('docker', INFO_CONTAINERD).exec,
        }),
      ).toBe(true);
    } finally {
      spy.mockRestore();
    }
    expect(lines).toEqual([
      `depot: warning: ${classicStoreWarning({ name: 'default', driver: 'docker', store: 'classic' })}\n`,
    ]);
  });
});

// Through the bundle, as a job runs it: the stand-in docker on PATH records builds (STANDIN_RECORD) and probes
// (STANDIN_PROBES).
let bundle = '';
beforeAll(() => {
  bundle = bundlePath('cli');
});

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A cache registry that answers /v2/ (the CLI's reachability probe). */
async function registry(): Promise<string> {
  const server = createServer((_req, res) => {
    res.writeHead(200);
    res.end('{}');
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function job(extra: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'depot-probe-cli-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  copyFileSync(resolve(import.meta.dirname, '../../test/support/standins/docker'), join(bin, 'docker'));
  chmodSync(join(bin, 'docker'), 0o755);
  const ctx = join(dir, 'ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\n');
  writeFileSync(
    join(ctx, 'docker-bake.hcl'),
    'group "default" { targets = ["app"] }\ntarget "app" { context = "." }\n',
  );
  mkdirSync(join(dir, 'tmp'));
  const env: NodeJS.ProcessEnv = {
    PATH: `${bin}:${process.env.PATH ?? ''}`,
    HOME: dir,
    TMPDIR: join(dir, 'tmp'),
    GITHUB_ACTIONS: 'true',
    RUNNER_TEMP: join(dir, 'tmp'),
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_JOB: 'build',
    STANDIN_RECORD: join(dir, 'calls.jsonl'),
    STANDIN_PROBES: join(dir, 'probes.jsonl'),
    ...extra,
  };
  const lines = (file: string): Array<{ args: string[] }> =>
    existsSync(file)
      ? readFileSync(file, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { args: string[] })
      : [];
  return {
    dir,
    ctx,
    env,
    builds: () => lines(env.STANDIN_RECORD as string),
    probes: () =>
      lines(env.STANDIN_PROBES as string).filter(
        (p) => p.args.includes('inspect') || p.args.includes('info'),
      ),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function depot(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [bundle, ...args], {
      env,
      cwd,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => done({ code, stderr }));
  });
}

const warnings = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('depot: warning:'));

describe('depot build and bake on the builder they find (bundle, stand-in docker)', () => {
  it('classic store: reads the cache, does not write it, warns once per build, probes once per job', async () => {
    const host = await registry();
    const j = job({
      DEPOT_TOKEN: await projectToken({ cache: `${host}/cache/web` }),
      STANDIN_IMAGE_STORE: 'classic',
    });
    const first = await depot(['build', j.ctx], j.env, j.dir);
    expect(first.code, first.stderr).toBe(0);
    expect(warnings(first.stderr)).toEqual([
      `depot: warning: ${classicStoreWarning({ name: 'default', driver: 'docker', store: 'classic' })}`,
    ]);
    const args = j.builds()[0]?.args ?? [];
    expect(args).toContain(`type=registry,ref=${host}/cache/web:default`);
    expect(args).not.toContain('--cache-to');
    expect(j.probes().map((p) => p.args[0])).toEqual(['buildx', 'info']);

    const second = await depot(['build', '--cache-key', 'api', j.ctx], j.env, j.dir);
    expect(second.code, second.stderr).toBe(0);
    expect(warnings(second.stderr)).toHaveLength(1);
    expect(j.builds()[1]?.args).not.toContain('--cache-to');
    expect(j.probes()).toHaveLength(2);

    const bake = await depot(['bake'], j.env, j.ctx);
    expect(bake.code, bake.stderr).toBe(0);
    expect(warnings(bake.stderr)).toHaveLength(1);
    const bakeArgs = j.builds()[2]?.args ?? [];
    expect(bakeArgs).toContain(`app.cache-from+=type=registry,ref=${host}/cache/web:app`);
    expect(bakeArgs.some((a) => a.includes('cache-to'))).toBe(false);
    expect(j.probes()).toHaveLength(2);
    j.cleanup();
  });

  it.each<[string, NodeJS.ProcessEnv, string[]]>([
    ['docker driver, containerd store', {}, ['buildx', 'info']],
    ['docker-container driver', { STANDIN_BUILDX_DRIVER: 'docker-container' }, ['buildx']],
    [
      'remote driver on a classic-store host',
      { STANDIN_BUILDX_DRIVER: 'remote', STANDIN_IMAGE_STORE: 'classic' },
      ['buildx'],
    ],
  ])('%s: the cache is read and written, no warning', async (_name, extra, probes) => {
    const host = await registry();
    const j = job({ DEPOT_TOKEN: await projectToken({ cache: `${host}/cache/web` }), ...extra });
    const r = await depot(['build', j.ctx], j.env, j.dir);
    expect(r.code, r.stderr).toBe(0);
    expect(warnings(r.stderr)).toEqual([]);
    expect(j.builds()[0]?.args).toContain(
      `type=registry,ref=${host}/cache/web:default,mode=max,ignore-error=true`,
    );
    expect(j.probes().map((p) => p.args[0])).toEqual(probes);
    j.cleanup();
  });

  it('asks docker nothing when the action handed over the facts of this builder (DEPOT_DOCKER_FACTS)', async () => {
    const host = await registry();
    const facts = {
      buildx: '0.29.1',
      builder: { asked: '', name: 'default', driver: 'docker', store: 'classic' },
    };
    const j = job({
      DEPOT_TOKEN: await projectToken({ cache: `${host}/cache/web` }),
      [DOCKER_FACTS_ENV]: JSON.stringify(facts),
      // what docker would say is not what was handed over: the handed facts decide
      STANDIN_IMAGE_STORE: 'containerd',
    });
    const r = await depot(['build', '--provenance', 'mode=max', j.ctx], j.env, j.dir);
    expect(r.code, r.stderr).toBe(0);
    expect(j.builds()[0]?.args).not.toContain('--cache-to');
    expect(warnings(r.stderr)).toHaveLength(1);
    // no probe at all: neither `buildx version` (for --provenance) nor inspect nor info
    expect(existsSync(j.env.STANDIN_PROBES as string)).toBe(false);
    // facts about another builder are not taken: the CLI asks
    const other = await depot(['build', '--builder', 'ci', j.ctx], j.env, j.dir);
    expect(other.code, other.stderr).toBe(0);
    expect(j.probes().map((p) => p.args[0])).toEqual(['buildx', 'info']);
    j.cleanup();
  });

  it('makes no registry probe when the action probed with this very token (DEPOT_CACHE_PROBED)', async () => {
    let requests = 0;
    const server = createServer((_req, res) => {
      requests++;
      res.writeHead(200);
      res.end('{}');
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const token = await projectToken({ cache: `${host}/cache/web` });
    const j = job({ DEPOT_TOKEN: token, [CACHE_PROBED_ENV]: probedMark(token) });
    const r = await depot(['build', j.ctx], j.env, j.dir);
    expect(r.code, r.stderr).toBe(0);
    expect(requests).toBe(0);
    // a mark for another token does not count: the CLI probes
    const other = job({ DEPOT_TOKEN: token, [CACHE_PROBED_ENV]: probedMark('another token') });
    expect((await depot(['build', other.ctx], other.env, other.dir)).code).toBe(0);
    expect(requests).toBe(1);
    j.cleanup();
    other.cleanup();
  });

  it('does not probe when the build writes no project cache (a read-only token)', async () => {
    const host = await registry();
    const j = job({
      DEPOT_TOKEN: await projectToken({ cache: `${host}/cache/web`, scope: 'build cache:read' }),
      STANDIN_IMAGE_STORE: 'classic',
    });
    const r = await depot(['build', j.ctx], j.env, j.dir);
    expect(r.code, r.stderr).toBe(0);
    expect(warnings(r.stderr)).toEqual([]);
    expect(j.probes()).toEqual([]);
    j.cleanup();
  });
});
