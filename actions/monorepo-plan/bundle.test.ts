// The bundle, run as the GitHub runner runs it (test/support/runner.ts): plan in a real git checkout made from
// examples/monorepo, record in two matrix legs and gather in a later job of the same run against the artifact
// service stand-in (test/support/github-api.ts), with the real @actions/artifact inside the bundle.
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prepareBundles } from '../../test/support/bundles';
import { startGithub } from '../../test/support/github-api';
import type { GithubStandIn, Run } from '../../test/support/github-api';
import { Job, ROOT } from '../../test/support/runner';
import { commit, GIT_ENV, RepoFactory } from './src/fixture-repo';

const ACTION = join(ROOT, 'actions', 'monorepo-plan');
const IMAGES = 'services/api\nservices/web\nservices/worker\n';
const repos = new RepoFactory();
let github: GithubStandIn;
const jobs: Job[] = [];

beforeAll(async () => {
  prepareBundles(['monorepo-plan']);
  github = await startGithub();
});
afterAll(async () => {
  await github?.close();
  repos.cleanup();
});
afterEach(() => {
  for (const job of jobs.splice(0)) job.cleanup();
});

function newJob(opts: ConstructorParameters<typeof Job>[0]): Job {
  const job = new Job({ repository: 'acme/mono', ...opts });
  jobs.push(job);
  return job;
}

/** A job of `run` with the runner's artifact env. */
function runJob(run: Run): Job {
  return newJob({
    actionsRuntime: {
      resultsUrl: github.artifacts.url,
      runtimeToken: run.runtimeToken,
      runId: run.runId,
      runAttempt: run.attempt,
    },
  });
}

const errors = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('::error::'));

describe('mode plan', () => {
  it('turns a push to the shared directory into a matrix of web and worker, with tags and a summary', async () => {
    const r = await repos.repo();
    const sha = await commit(r.work, { 'shared/lib.sh': '#!/bin/sh\nlog() { echo "$*"; }\n' });
    const job = newJob({
      workspace: r.work,
      event: {
        name: 'push',
        payload: {
          before: r.first,
          after: sha,
          created: false,
          repository: { full_name: 'acme/mono', default_branch: 'main' },
        },
      },
      env: {
        ...(GIT_ENV as Record<string, string>),
        GITHUB_SHA: sha,
        GITHUB_WORKFLOW_REF: 'acme/mono/.github/workflows/ci.yml@refs/heads/main',
      },
    });
    const step = await job.step(ACTION, {
      inputs: { images: IMAGES, registry: 'registry.example.com/acme/', 'tag-prefix': 'mono-' },
    });
    expect(step.exitCode, step.stdout + step.stderr).toBe(0);
    expect(step.outputs.count).toBe('2');
    expect(step.outputs.mode).toBe('images');
    expect(step.outputs['registry-host']).toBe('registry.example.com');
    const matrix = JSON.parse(step.outputs.matrix ?? '') as { include: Array<Record<string, string>> };
    const short = sha.slice(0, 7);
    expect(matrix.include).toEqual([
      {
        name: 'web',
        context: '.',
        file: 'services/web/Dockerfile',
        platforms: 'linux/amd64,linux/arm64',
        tags: `registry.example.com/acme/mono-web:${short}\nregistry.example.com/acme/mono-web:latest`,
        'build-contexts': '',
        target: '',
        set: '',
        reason: 'shared/lib.sh changed (COPY shared/ in services/web/Dockerfile)',
      },
      {
        name: 'worker',
        context: '.',
        file: 'services/worker/Dockerfile',
        platforms: 'linux/amd64',
        tags: `registry.example.com/acme/mono-worker:${short}\nregistry.example.com/acme/mono-worker:latest`,
        'build-contexts': '',
        target: '',
        set: '',
        reason: 'shared/lib.sh changed (COPY shared/ in services/worker/Dockerfile)',
      },
    ]);
    expect(step.summary).toContain('## Monorepo plan');
    expect(step.summary).toContain(
      '| web | shared/lib.sh changed (COPY shared/ in services/web/Dockerfile) | linux/amd64,linux/arm64 |',
    );
  });

  it('an empty plan is a success with count 0 and a summary saying nothing changed', async () => {
    const r = await repos.repo();
    const sha = await commit(r.work, { 'docs/notes.txt': 'notes\n' });
    const job = newJob({
      workspace: r.work,
      event: { name: 'push', payload: { before: r.first, after: sha } },
      env: { ...(GIT_ENV as Record<string, string>), GITHUB_SHA: sha },
    });
    const step = await job.step(ACTION, { inputs: { images: IMAGES } });
    expect(step.exitCode, step.stdout + step.stderr).toBe(0);
    expect(step.outputs).toEqual({
      matrix: '{"include":[]}',
      count: '0',
      mode: 'images',
      'registry-host': '',
    });
    expect(step.summary).toContain('Nothing changed that any image builds from: no image is built.');
  });

  it.each([
    [
      {},
      'Set `images` (image directories, one per line) or `bake-file` (a bake file whose targets are the images).',
    ],
    [
      { images: 'services/api', 'bake-file': 'docker-bake.hcl' },
      'Set either `images` or `bake-file`, not both: the images are the directories listed or the bake targets.',
    ],
    [{ mode: 'publish' }, 'Input `mode` must be one of plan, record, gather; got "publish".'],
    [{ mode: 'record' }, 'Input `name` is required in record mode: pass the image name (matrix.name).'],
    [{ mode: 'gather', plan: '{nope' }, "Input `plan` is not JSON: pass the plan job's `matrix` output."],
  ])('refuses %j with one line', async (inputs, message) => {
    const r = await repos.repo();
    const job = newJob({ workspace: r.work, env: GIT_ENV as Record<string, string> });
    const step = await job.step(ACTION, { inputs });
    expect(step.exitCode).toBe(1);
    expect(errors(step.stdout)).toEqual([`::error::${message}`]);
  });

  it('a listed directory that does not exist is an error naming it', async () => {
    const r = await repos.repo();
    const job = newJob({
      workspace: r.work,
      event: { name: 'workflow_dispatch', payload: {} },
      env: GIT_ENV as Record<string, string>,
    });
    const step = await job.step(ACTION, { inputs: { images: 'services/api\nservices/missing' } });
    expect(errors(step.stdout)).toEqual([
      '::error::Input `images`: services/missing has no Dockerfile (services/missing/Dockerfile): list directories that hold one, one per line.',
    ]);
  });
});

describe('modes record and gather', () => {
  it('each leg records its digest; gather reads them all back into digests, built and the summary', async () => {
    const run = github.addRun({ repository: 'acme/mono', runId: 5150, event: 'push' });
    const plan = {
      include: [
        { name: 'web', reason: 'shared/lib.sh changed (COPY shared/ in services/web/Dockerfile)' },
        { name: 'worker', reason: 'shared/lib.sh changed (COPY shared/ in services/worker/Dockerfile)' },
        { name: 'api', reason: 'services/api/serve.sh changed' },
      ],
    };
    const webDigest = `sha256:${'a'.repeat(64)}`;
    const workerDigest = `sha256:${'b'.repeat(64)}`;
    // build-push's metadata output: buildx's metadata JSON.
    const web = await runJob(github.runs.addJob(run)).step(ACTION, {
      inputs: {
        mode: 'record',
        name: 'web',
        metadata: JSON.stringify({
          'buildx.build.ref': 'no-such-builder/no-such-builder0/3mqv1d6wfhu0xbc6l7e5ypfgx',
          'containerimage.digest': webDigest,
          'image.name': 'registry.example.com/acme/mono-web:abc1234',
        }),
      },
    });
    expect(web.exitCode, web.stdout + web.stderr).toBe(0);
    expect(web.outputs).toEqual({ digest: webDigest });
    // bake's metadata output: a map of target to its metadata.
    const worker = await runJob(github.runs.addJob(run)).step(ACTION, {
      inputs: {
        mode: 'record',
        name: 'worker',
        target: 'worker',
        metadata: JSON.stringify({
          worker: { 'containerimage.digest': workerDigest },
          other: { 'containerimage.digest': `sha256:${'c'.repeat(64)}` },
        }),
      },
    });
    expect(worker.exitCode, worker.stdout + worker.stderr).toBe(0);
    expect(worker.outputs).toEqual({ digest: workerDigest });
    expect(github.runs.artifactsOf('acme/mono', run.runId).map((a) => a.name)).toEqual([
      'depot-monorepo-web',
      'depot-monorepo-worker',
    ]);

    const gatherJob = runJob(github.runs.addJob(run));
    const gather = await gatherJob.step(ACTION, { inputs: { mode: 'gather', plan: JSON.stringify(plan) } });
    expect(gather.exitCode, gather.stdout + gather.stderr).toBe(0);
    expect(JSON.parse(gather.outputs.digests ?? '')).toEqual({ web: webDigest, worker: workerDigest });
    expect(JSON.parse(gather.outputs.built ?? '')).toEqual(['web', 'worker']);
    expect(gather.summary).toContain('| Image | Why it was built | Digest | Duration | Cached steps |');
    expect(gather.summary).toContain(
      `| web | shared/lib.sh changed (COPY shared/ in services/web/Dockerfile) | ${webDigest} | - | - |`,
    );
    expect(gather.summary).toContain(
      '| api | services/api/serve.sh changed | not built (its leg failed or was skipped) | - | - |',
    );
    expect(gatherJob.leakedSecrets()).toEqual([]);
  });

  it('gather of an empty plan outputs {} and [] and says nothing changed, without the Actions runtime', async () => {
    const job = newJob({});
    const step = await job.step(ACTION, { inputs: { mode: 'gather', plan: '{"include":[]}' } });
    expect(step.exitCode, step.stdout + step.stderr).toBe(0);
    expect(step.outputs).toEqual({ digests: '{}', built: '[]' });
    expect(step.summary).toContain('Nothing changed that any image builds from: no image is built.');
  });

  it('a record that cannot be uploaded is a warning; the leg still outputs its digest', async () => {
    const job = newJob({});
    const digest = `sha256:${'d'.repeat(64)}`;
    const step = await job.step(ACTION, {
      inputs: { mode: 'record', name: 'api', metadata: JSON.stringify({ 'containerimage.digest': digest }) },
    });
    expect(step.exitCode, step.stdout + step.stderr).toBe(0);
    expect(step.outputs).toEqual({ digest });
    expect(step.stdout).toMatch(/^::warning::Could not upload the record of api for the gather job/m);
  });
});
