// The planner with the real engine: bake files read with `docker buildx bake --print` (buildx 0.29), and a record
// that reads a real build's history (duration, cached steps). Runs under vitest.e2e.config.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exec } from '../../../shared/exec';
import { getGithubContext } from '../../../shared/github';
import { commit, git, GIT_ENV, RepoFactory } from './fixture-repo';
import { plan } from './plan';
import type { PlanInputs } from './plan';
import { fromHistory, fromMetadata } from './record';

const repos = new RepoFactory();
afterAll(() => repos.cleanup());

async function bakePlan(checkout: string, before: string, inputs: Partial<PlanInputs> = {}) {
  const eventPath = repos.file('event.json');
  writeFileSync(
    eventPath,
    JSON.stringify({ before, repository: { full_name: 'acme/mono', default_branch: 'main' } }),
  );
  const env: NodeJS.ProcessEnv = {
    ...GIT_ENV,
    GITHUB_EVENT_NAME: 'push',
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_SHA: await git(checkout, 'rev-parse', 'HEAD'),
    GITHUB_REF: 'refs/heads/main',
  };
  return plan(
    {
      images: [],
      'bake-file': ['docker-bake.hcl'],
      platforms: ['linux/amd64'],
      registry: '',
      'tag-prefix': '',
      all: false,
      ...inputs,
    },
    { root: checkout, github: getGithubContext(env), env },
  );
}

describe('plan from a bake file', () => {
  it('a change in the shared directory builds the web and worker targets, each with its set lines', async () => {
    const r = await repos.repo();
    const sha = await commit(r.work, { 'shared/lib.sh': '#!/bin/sh\nlog() { echo "$*"; }\n' });
    const p = await bakePlan(r.work, r.first, { registry: '127.0.0.1:5000/mono' });
    const short = sha.slice(0, 7);
    expect(p.mode).toBe('bake');
    expect(p.include).toEqual([
      {
        name: 'web',
        context: '.',
        file: 'services/web/Dockerfile',
        platforms: 'linux/amd64,linux/arm64',
        tags: `127.0.0.1:5000/mono/web:${short}\n127.0.0.1:5000/mono/web:latest`,
        'build-contexts': '',
        target: 'web',
        set: `web.tags=127.0.0.1:5000/mono/web:${short}\nweb.tags=127.0.0.1:5000/mono/web:latest`,
        reason: 'shared/lib.sh changed (COPY shared/ in services/web/Dockerfile)',
      },
      {
        name: 'worker',
        context: '.',
        file: 'services/worker/Dockerfile',
        platforms: 'linux/amd64',
        tags: `127.0.0.1:5000/mono/worker:${short}\n127.0.0.1:5000/mono/worker:latest`,
        'build-contexts': '',
        target: 'worker',
        set: [
          `worker.tags=127.0.0.1:5000/mono/worker:${short}`,
          `worker.tags=127.0.0.1:5000/mono/worker:latest`,
          'worker.platform=linux/amd64',
        ].join('\n'),
        reason: 'shared/lib.sh changed (COPY shared/ in services/worker/Dockerfile)',
      },
    ]);
    // bake takes the set lines as the bake action passes them (one --set each).
    const worker = p.include[1];
    const sets = (worker?.set ?? '').split('\n').flatMap((line) => ['--set', line]);
    const printed = await exec('docker', ['buildx', 'bake', '--print', ...sets, 'worker'], {
      cwd: r.work,
      captureStdout: true,
      silent: true,
      stdin: 'ignore',
    });
    expect(printed.exitCode, printed.lastStderrLine).toBe(0);
    expect(JSON.parse(printed.stdout).target.worker).toMatchObject({
      tags: worker?.tags.split('\n'),
      platforms: ['linux/amd64'],
    });
  });

  it('the default platforms of a target that names none are set one per line', async () => {
    const r = await repos.repo();
    await commit(r.work, { 'services/api/serve.sh': 'v2\n' });
    const p = await bakePlan(r.work, r.first, { platforms: ['linux/amd64', 'linux/arm64'] });
    expect(p.include.map((e) => [e.name, e.platforms, e.set])).toEqual([
      ['api', 'linux/amd64,linux/arm64', 'api.platform=linux/amd64\napi.platform=linux/arm64'],
    ]);
    const sets = (p.include[0]?.set ?? '').split('\n').flatMap((line) => ['--set', line]);
    const printed = await exec('docker', ['buildx', 'bake', '--print', ...sets, 'api'], {
      cwd: r.work,
      captureStdout: true,
      silent: true,
      stdin: 'ignore',
    });
    expect(printed.exitCode, printed.lastStderrLine).toBe(0);
    expect(JSON.parse(printed.stdout).target.api.platforms).toEqual(['linux/amd64', 'linux/arm64']);
  });

  it('a change to the bake file builds every target', async () => {
    const r = await repos.repo();
    const hcl = readFileSync(join(r.work, 'docker-bake.hcl'), 'utf8');
    await commit(r.work, { 'docker-bake.hcl': `${hcl}\n# reworded\n` });
    const p = await bakePlan(r.work, r.first);
    expect(p.everything).toBe('docker-bake.hcl changed (the bake file): every image');
    expect(p.include.map((e) => [e.name, e.target, e.set])).toEqual([
      ['api', 'api', 'api.platform=linux/amd64'],
      ['web', 'web', ''],
      ['worker', 'worker', 'worker.platform=linux/amd64'],
    ]);
  });

  it('a bake target’s named context: a change under it builds that target', async () => {
    const r = await repos.repo();
    const hcl = readFileSync(join(r.work, 'docker-bake.hcl'), 'utf8').replace(
      'dockerfile = "services/api/Dockerfile"',
      'dockerfile = "services/api/Dockerfile"\n  contexts   = { proto = "proto" }',
    );
    const base = await commit(r.work, { 'docker-bake.hcl': hcl, 'proto/api.proto': 'v1\n' });
    await commit(r.work, { 'proto/api.proto': 'v2\n' });
    const p = await bakePlan(r.work, base);
    expect(p.include.map((e) => [e.name, e.reason, e['build-contexts']])).toEqual([
      ['api', 'proto/api.proto changed (build context proto=proto)', 'proto=proto'],
    ]);
  });

  it('a bake file that does not parse is one line naming it', async () => {
    const r = await repos.repo();
    await commit(r.work, { 'docker-bake.hcl': 'target "api" {\n' });
    await expect(bakePlan(r.work, r.first)).rejects.toThrow(
      /^docker buildx bake --print docker-bake.hcl failed: /,
    );
  });
});

describe('record with the real build history', () => {
  it('reads the duration and cached steps of a buildx build from its metadata’s build ref', async () => {
    const r = await repos.repo();
    const metadataFile = join(r.dir, 'metadata.json');
    const build = await exec(
      'docker',
      ['buildx', 'build', '--file', 'services/api/Dockerfile', '--metadata-file', metadataFile, '.'],
      { cwd: r.work, silent: true, stdin: 'ignore' },
    );
    expect(build.exitCode, build.lastStderrLine).toBe(0);
    const { ref } = fromMetadata(readFileSync(metadataFile, 'utf8'), '');
    expect(ref).toMatch(/^[^/]+\/[^/]+\/[a-z0-9]+$/);
    const history = await fromHistory(ref);
    expect(history.duration).toMatch(/^\d+\.\d s$/);
    expect(history.cached).toMatch(/^\d+\/\d+$/);
    expect(await fromHistory('nobuilder/nonode/nosuchref')).toEqual({ duration: '-', cached: '-' });
  });
});
