// The build record and the job summary, end to end: the real setup and build-push bundles in a push job with the
// Actions runtime of a run in the GitHub stand-in (test/support/github-api.ts, whose artifact service the bundle's
// real @actions/artifact talks to), the real broker, BuildKit and buildx 0.29. The post step exports the build's
// record with `docker buildx history export --finalize`, uploads it as `<owner>~<repo>~<REF6>.dockerbuild`, and
// writes the summary that links it; a failed build gets both too; a refused upload is a warning and a green step.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prepareBundles } from '../support/bundles';
import { startGithub } from '../support/github-api';
import type { GithubStandIn, Run } from '../support/github-api';
import { Job, ROOT } from '../support/runner';
import type { StepResult } from '../support/runner';
import { mintedSecretsIn } from '../support/secrets';
import { MONOREPO_ACTIONS } from './scenarios';
import { DEMO, pushClaims, REPOSITORY, startWorld } from './world';
import type { World } from './world';

let world: World;
let github: GithubStandIn;
const jobs: Job[] = [];
const BUST = `record-${Date.now().toString(36)}`;
const FAILING = join(ROOT, 'examples', 'projects', 'failing');
let nextRun = 8_200_000_000 + Math.floor(Math.random() * 1_000_000);

beforeAll(async () => {
  prepareBundles(['setup', 'build-push', 'cli']);
  github = await startGithub();
  world = await startWorld();
});
afterEach(() => github.artifacts.faults.clear());
afterAll(async () => {
  for (const j of jobs) j.cleanup();
  await world?.close();
  await github?.close();
});

interface Built {
  job: Job;
  run: Run;
  build: StepResult;
  post: StepResult;
}

/** A push job of acme/web with the Actions runtime: setup, build-push of `context`, then the post steps. */
async function buildJob(context: string, env: Record<string, string> = {}): Promise<Built> {
  const run = github.addRun({
    repository: REPOSITORY,
    runId: nextRun++,
    event: 'push',
    status: 'in_progress',
  });
  Object.assign(world.stack.issuer.defaults, pushClaims());
  const job = new Job({
    repository: REPOSITORY,
    env: {
      ACTIONS_ID_TOKEN_REQUEST_URL: world.stack.issuer.runtimeUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: world.stack.issuer.runtimeToken,
      DEPOT_BROKER_URL: world.stack.brokerUrl,
      ...env,
    },
    actionsRuntime: {
      resultsUrl: github.artifacts.url,
      runtimeToken: run.runtimeToken,
      runId: run.runId,
      runAttempt: run.attempt,
    },
  });
  jobs.push(job);
  const setup = await job.step(MONOREPO_ACTIONS.setup, {
    inputs: { version: world.version, 'manifest-url': `${world.release.url}/manifest.json` },
  });
  expect(setup.exitCode, job.output()).toBe(0);
  const build = await job.step(MONOREPO_ACTIONS.buildPush, {
    inputs: {
      context,
      platforms: 'linux/amd64',
      project: 'demo',
      'build-args': `BUST=${BUST}`,
      secrets: 'NPM_TOKEN=npm_record_secret_value_77',
    },
  });
  const posts = await job.finish();
  const post = posts.find((p) => p.action === MONOREPO_ACTIONS.buildPush);
  if (!post) throw new Error(`no post step for build-push:\n${job.output()}`);
  return { job, run, build, post };
}

/** The run's artifacts in the stand-in, by name. */
function artifactsOf(run: Run) {
  return github.runs.artifactsOf(run.repository, run.runId);
}

/** A .dockerbuild is a gzipped tar: gzip's magic, then ustar's at offset 257 of the first header. */
function expectDockerbuild(content: Buffer): void {
  expect(content.length).toBeGreaterThan(512);
  expect([...content.subarray(0, 2)]).toEqual([0x1f, 0x8b]);
  const tar = gunzipSync(content);
  expect(tar.subarray(257, 262).toString('latin1')).toBe('ustar');
  // No token the tests' servers minted is in the record (what of it is not compressed again inside).
  expect(mintedSecretsIn(tar.toString('latin1'))).toEqual([]);
}

/** The build record id the post step exported (the last argument of its `docker buildx history export` line). */
function exportedId(post: StepResult): string {
  const line = post.stdout.split('\n').find((l) => l.startsWith('docker buildx history export '));
  return line?.trim().split(' ').pop() ?? '';
}

/** `docker buildx history inspect <id> --format json` (async: the stand-ins serve from this process). */
function historyInspect(id: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', ['buildx', 'history', 'inspect', id, '--format', 'json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(out) as Record<string, unknown>) : reject(new Error(`exit ${code}`)),
    );
  });
}

describe('build record and job summary (build-push, buildx 0.29)', () => {
  it('a build: the post step uploads its .dockerbuild record and the summary links it', async () => {
    const r = await buildJob(join(DEMO, 'app'));
    expect(r.build.exitCode, r.job.output()).toBe(0);
    expect(r.build.summary).toBe('');
    expect(r.post.exitCode, r.post.stdout).toBe(0);
    const metadata = JSON.parse(r.build.outputs.metadata ?? '{}') as Record<string, unknown>;
    const ref = String(metadata['buildx.build.ref'] ?? '');
    expect(ref).toMatch(/^[^/]+\/[^/]+\/[a-z0-9]{25}$/);
    const id = ref.split('/')[2] ?? '';
    const name = `acme~web~${id.slice(0, 6).toUpperCase()}.dockerbuild`;

    const artifacts = artifactsOf(r.run);
    expect(artifacts.map((a) => a.name)).toEqual([name]);
    const [artifact] = artifacts;
    expect(artifact?.finalized).toBe(true);
    expectDockerbuild(artifact?.content ?? Buffer.alloc(0));
    expect(r.post.stdout).toContain(`--finalize --output`);
    expect(exportedId(r.post)).toBe(id);

    const url = `https://github.com/acme/web/actions/runs/${r.run.runId}/artifacts/${artifact?.id ?? 0}`;
    expect(r.post.summary).toContain(`| Build record | <a href="${url}">${name}</a>`);
    expect(r.post.summary).toContain('| Status | :white_check_mark: success |');
    expect(r.post.summary).toContain(`| Digest | ${r.build.outputs.digest ?? '-'} |`);
    expect(r.post.summary).toContain('| Platforms | linux/amd64 |');
    expect(r.post.summary).toContain('| Project | demo |');
    expect(r.post.summary).toContain(`| Build id | ${r.build.outputs['build-id'] ?? '?'} |`);
    expect(r.post.summary).toContain('| Isolated | no |');
    expect(r.post.summary).toContain('| Built with | depot |');
    expect(r.post.summary).toContain('| secrets | NPM_TOKEN |');
    expect(r.job.leakedSecrets(['npm_record_secret_value_77'])).toEqual([]);
    expect(r.job.output()).not.toContain('npm_record_secret_value_77');
  });

  it('a failed build still gets a summary with status failed and its record', async () => {
    const r = await buildJob(FAILING);
    expect(r.build.exitCode).toBe(1);
    expect(r.post.exitCode, r.post.stdout).toBe(0);
    expect(r.post.summary).toContain('| Status | :x: failed |');
    expect(r.post.summary).toMatch(/\| Error \| depot build failed with: .*exit code: 3/);
    expect(r.post.summary).toContain(`| Build id | ${r.build.outputs['build-id'] ?? '?'} |`);
    const artifacts = artifactsOf(r.run);
    expect(artifacts.map((a) => a.name)).toEqual([
      expect.stringMatching(/^acme~web~[A-Z0-9]{6}\.dockerbuild$/),
    ]);
    expectDockerbuild(artifacts[0]?.content ?? Buffer.alloc(0));
    // The record is this failed build's (found in buildx's refs, as the metadata file of a failed build has none).
    const id = exportedId(r.post);
    expect(artifacts[0]?.name).toBe(`acme~web~${id.slice(0, 6).toUpperCase()}.dockerbuild`);
    const history = await historyInspect(id);
    expect(history.Status).toBe('failed');
    expect(String(history.Context)).toMatch(/projects\/failing$/);
    expect(r.post.summary).toContain(
      `<a href="https://github.com/acme/web/actions/runs/${r.run.runId}/artifacts/${artifacts[0]?.id ?? 0}">`,
    );
    expect(r.job.leakedSecrets(['npm_record_secret_value_77'])).toEqual([]);
  });

  it('an artifact service that refuses the upload (403): a warning, a green step, a summary without the link', async () => {
    github.artifacts.faults.failNext('CreateArtifact', 403);
    const r = await buildJob(join(DEMO, 'app'));
    expect(r.build.exitCode, r.job.output()).toBe(0);
    expect(r.post.exitCode).toBe(0);
    expect(r.post.stdout).toMatch(/::warning::Build record not uploaded: .*CreateArtifact.*403/);
    expect(artifactsOf(r.run)).toEqual([]);
    expect(r.post.summary).toContain('| Status | :white_check_mark: success |');
    expect(r.post.summary).not.toContain('Build record');
    expect(r.job.leakedSecrets(['npm_record_secret_value_77'])).toEqual([]);
  });

  it('DOCKER_BUILD_RECORD_UPLOAD=false: no upload; DOCKER_BUILD_SUMMARY=false: no summary and no record', async () => {
    let r = await buildJob(join(DEMO, 'app'), { DOCKER_BUILD_RECORD_UPLOAD: 'false' });
    expect(r.post.exitCode).toBe(0);
    expect(r.post.stdout).toContain('Build record upload disabled (DOCKER_BUILD_RECORD_UPLOAD)');
    expect(artifactsOf(r.run)).toEqual([]);
    expect(r.post.summary).toContain('| Status | :white_check_mark: success |');
    r = await buildJob(join(DEMO, 'app'), { DOCKER_BUILD_SUMMARY: 'false' });
    expect(r.post.exitCode).toBe(0);
    expect(r.post.summary).toBe('');
    expect(artifactsOf(r.run)).toEqual([]);
  });
});
