// The default builder on GitHub's hosted runners: the `docker` driver on Docker's classic image store, which cannot
// export cache. A second dockerd with the classic store (test/support/dockerd.ts) beside the engine's; the project
// cache is seeded through the engine (containerd store), then `depot build` through the second daemon with a project
// token: it succeeds, imports the cache (CACHED steps, the cache manifest fetched from the token-auth registry),
// writes nothing to it, and warns once; a second build in the same job does not ask docker again.
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDockerd } from '../../test/support/dockerd';
import type { Dockerd } from '../../test/support/dockerd';
import { startCacheFixture, touches, writesTo } from './cache-fixture';
import type { CacheFixture } from './cache-fixture';
import { cachedSteps, depot, exec, unique } from './engine';
import type { Result } from './engine';

let cache: CacheFixture | undefined;
let classic: Dockerd | undefined;

beforeAll(async () => {
  cache = await startCacheFixture();
  classic = await startDockerd({ store: 'classic' });
});
afterAll(async () => {
  await classic?.stop();
  await cache?.stop();
});

const all = (r: Result) => `${r.stdout}${r.stderr}`;
const classicWarnings = (r: Result) =>
  r.stderr.split('\n').filter((l) => l.startsWith('depot: warning:') && l.includes('classic image store'));

/** A small project on the engine's base image (the second daemon pulls it from 127.0.0.1:5000). */
function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'depot-classic-'));
  writeFileSync(
    join(dir, 'Dockerfile'),
    [
      'FROM 127.0.0.1:5000/busybox:latest',
      'ARG RUN_ID=',
      'RUN echo "classic store ${RUN_ID}" > /one.txt',
      'RUN cat /one.txt /one.txt > /two.txt',
      '',
    ].join('\n'),
  );
  return dir;
}

/** A GitHub Actions job's env for builds through the classic daemon. */
function githubJob(host: string): NodeJS.ProcessEnv {
  const temp = mkdtempSync(join(tmpdir(), 'depot-runner-temp-'));
  mkdirSync(temp, { recursive: true });
  return {
    DOCKER_HOST: host,
    GITHUB_ACTIONS: 'true',
    RUNNER_TEMP: temp,
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_JOB: 'build',
  };
}

describe('the docker driver on the classic image store (a second dockerd)', () => {
  it('reports the classic store there and the containerd store on the engine', async () => {
    const info = ['info', '--format', '{{.Driver}} {{json .DriverStatus}}'];
    const there = await exec('docker', ['-H', (classic as Dockerd).host, ...info]);
    expect(there.code, there.stderr).toBe(0);
    expect(there.stdout).not.toContain('io.containerd.snapshotter.v1');
    expect(there.stdout).toMatch(/^overlay2 /);
    const engine = await exec('docker', info);
    expect(engine.stdout).toContain('["driver-type","io.containerd.snapshotter.v1"]');
  });

  it('builds with the project token: imports the cache seeded on the engine, writes none, warns once', async () => {
    const fixture = cache as CacheFixture;
    const daemon = classic as Dockerd;
    const ctx = project();
    const key = unique('classic');
    const runId = ['--build-arg', `RUN_ID=${unique('run')}`];
    const token = await fixture.token();

    // Seed through the engine (containerd store): the cache is written, no warning.
    const seeded = await depot(['build', '--cache-key', key, ...runId, ctx], { DEPOT_TOKEN: token });
    expect(seeded.code, all(seeded)).toBe(0);
    expect(classicWarnings(seeded)).toEqual([]);
    expect(writesTo(fixture.log(), 'cache/web').some((l) => l.includes(`/manifests/${key} `))).toBe(true);

    // Through the classic-store daemon, as a GitHub job whose workflow has no setup-buildx step.
    const job = githubJob(daemon.host);
    const mark = fixture.log().length;
    const built = await depot(['build', '--cache-key', key, ...runId, ctx], { ...job, DEPOT_TOKEN: token });
    expect(built.code, all(built)).toBe(0);
    expect(all(built)).not.toContain('Cache export is not supported');
    expect(classicWarnings(built)).toHaveLength(1);
    expect(classicWarnings(built)[0]).toContain('docker/setup-buildx-action');
    expect(classicWarnings(built)[0]).toContain('containerd image store');
    expect(built.stderr).toContain(`importing cache manifest from ${fixture.host}/cache/web:${key}`);
    expect(cachedSteps(built.stderr)).toHaveLength(2);
    const after = fixture.log().slice(mark);
    expect(touches(after, 'cache/web').some((l) => /"(GET|HEAD) \/v2\/cache\/web\/manifests\//.test(l))).toBe(
      true,
    );
    expect(writesTo(after, 'cache/web')).toEqual([]);
    expect(all(built)).not.toContain(token);
    // The answer is kept for the job in RUNNER_TEMP.
    expect(readdirSync(join(job.RUNNER_TEMP as string, 'depot'))).toHaveLength(1);

    // A second build in the same job: the kept answer, docker is not asked again; still one warning.
    const again = await depot(['build', '--debug', '--cache-key', key, ...runId, ctx], {
      ...job,
      DEPOT_TOKEN: token,
    });
    expect(again.code, all(again)).toBe(0);
    expect(again.stderr).toContain('BuilderProbe.facts: kept for this job');
    expect(again.stderr).not.toMatch(/running docker buildx inspect|running docker info/);
    expect(classicWarnings(again)).toHaveLength(1);
    expect(all(again)).not.toContain(token);
  });
});
