// The reusable monorepo workflow end to end (issue 23): .github/workflows/build-monorepo.yml read and run by the
// workflow runner (test/support/workflow-runner.ts) for a caller's push to acme/web, a real git repository made
// from examples/monorepo. Its plan job, each matrix leg and its gather job are jobs of their own with the real
// bundles (monorepo-plan, setup, build-push, bake), the real broker (OIDC for the build jobs only, as their
// `id-token: write` grants), the CLI release served over HTTP, BuildKit and the registries; only actions/checkout
// (a real git fetch from the test's repository) and docker/login-action have stand-ins. All jobs of one run share
// its Actions runtime in the GitHub stand-in, where the legs' records are artifacts the gather job reads back.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repositoryName } from '../../shared/identity';
import { prepareBundles } from '../support/bundles';
import { startGithub } from '../support/github-api';
import type { GithubStandIn } from '../support/github-api';
import { RegistryClient } from '../support/registry-client';
import { examplePayload, ROOT } from '../support/runner';
import { runWorkflow } from '../support/workflow-runner';
import type { WorkflowRunResult } from '../support/workflow-runner';
import { pushClaims, registryDigest, REPOSITORY, REPOSITORY_ID, startWorld } from './world';
import type { World } from './world';

const WORKFLOW = join(ROOT, '.github', 'workflows', 'build-monorepo.yml');
const CALLER = `${REPOSITORY}/.github/workflows/ci.yml@refs/heads/main`;
const IMAGES = ['api', 'web', 'worker'];
const NOTHING_CHANGED = 'Nothing changed that any image builds from: no image is built.';
const run = Date.now().toString(36);
/** A registry path of this run's own: no other run's images are seen. */
const REGISTRY_PATH = `mono-${run}`;
const REGISTRY = `127.0.0.1:5000/${REGISTRY_PATH}`;

const exec = promisify(execFile);
/** The caller's registry-password secret. */
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
let world: World;
let github: GithubStandIn;
let server: string;
let repo: string;
let nextRunId = 7_300_000_000 + Math.floor(Math.random() * 1_000_000);
const results: WorkflowRunResult[] = [];

async function git(...args: string[]): Promise<string> {
  const { stdout } = await exec(
    'git',
    ['-c', 'user.name=Ada', '-c', 'user.email=ada@example.com', '-c', 'commit.gpgsign=false', ...args],
    { cwd: repo },
  );
  return stdout.trim();
}

/** Writes `files` (path -> text) into the repository and commits them; returns the new commit's sha. */
async function commit(message: string, files: Record<string, string>): Promise<string> {
  for (const [path, text] of Object.entries(files)) writeFileSync(join(repo, path), text);
  await git('add', '-A');
  await git('commit', '-qm', message);
  return git('rev-parse', 'HEAD');
}

/** A real push payload (@octokit/webhooks-examples) of acme/web's main from `before` to `after`. */
function pushPayload(before: string, after: string): Record<string, unknown> {
  const payload = examplePayload('push') as Record<string, unknown> & { repository: Record<string, unknown> };
  const [owner = '', name = ''] = REPOSITORY.split('/');
  return {
    ...payload,
    ref: 'refs/heads/main',
    before,
    after,
    created: false,
    deleted: false,
    forced: false,
    compare: `https://github.com/${REPOSITORY}/compare/${before.slice(0, 12)}...${after.slice(0, 12)}`,
    head_commit: { ...(payload.head_commit as Record<string, unknown>), id: after, tree_id: after },
    repository: {
      ...payload.repository,
      id: Number(REPOSITORY_ID),
      name,
      full_name: REPOSITORY,
      owner: { ...(payload.repository.owner as Record<string, unknown>), login: owner, name: owner },
      private: false,
      visibility: 'public',
      default_branch: 'main',
      master_branch: 'main',
    },
  };
}

interface CallOptions {
  before: string;
  after: string;
  with: Record<string, string | number | boolean>;
  secrets?: Record<string, string>;
}

/** One push's run of the caller's job `uses: <repository>/.github/workflows/build-monorepo.yml@v1`. */
async function callWorkflow(opts: CallOptions): Promise<WorkflowRunResult> {
  const githubRun = github.addRun({
    repository: REPOSITORY,
    runId: nextRunId++,
    attempt: 1,
    event: 'push',
    status: 'in_progress',
    headSha: opts.after,
    headBranch: 'main',
    private: false,
    repositoryId: Number(REPOSITORY_ID),
  });
  // The OIDC token GitHub mints for the build jobs of this run: the caller's push, the called workflow's job.
  Object.assign(world.stack.issuer.defaults, {
    ...pushClaims(),
    sha: opts.after,
    workflow_ref: CALLER,
    job_workflow_ref: `${repositoryName()}/.github/workflows/build-monorepo.yml@refs/heads/v1`,
    run_id: String(githubRun.runId),
  });
  const result = await runWorkflow({
    workflow: WORKFLOW,
    with: opts.with,
    ...(opts.secrets ? { secrets: opts.secrets } : {}),
    event: { name: 'push', payload: pushPayload(opts.before, opts.after) },
    repository: REPOSITORY,
    sha: opts.after,
    ref: 'refs/heads/main',
    caller: { name: 'ci', ref: CALLER },
    permissions: { contents: 'read', 'id-token': 'write' },
    gitServer: server,
    idToken: { url: world.stack.issuer.runtimeUrl, token: world.stack.issuer.runtimeToken },
    actionsRuntime: {
      resultsUrl: github.artifacts.url,
      runtimeToken: githubRun.runtimeToken,
      runId: githubRun.runId,
      runAttempt: githubRun.attempt,
    },
  });
  github.runs.complete(githubRun);
  results.push(result);
  return result;
}

/** The caller's `with:` for the three image directories, pushed under this run's registry path. */
function imagesWith(extra: Record<string, string | number | boolean> = {}) {
  return {
    images: IMAGES.map((i) => `services/${i}`).join('\n'),
    push: true,
    registry: REGISTRY,
    project: 'demo',
    'broker-url': world.stack.brokerUrl,
    'manifest-url': `${world.release.url}/manifest.json`,
    ...extra,
  };
}

async function cacheStatus(key: string): Promise<number> {
  const demo = new RegistryClient(
    world.stack.registryHost,
    await world.stack.projectToken(pushClaims(), 'demo'),
  );
  return (await demo.manifestDigest('cache/demo', key)).status;
}

function summaries(r: WorkflowRunResult, jobId: string): string {
  return (r.jobs[jobId]?.legs ?? []).flatMap((l) => l.steps.map((s) => s.result?.summary ?? '')).join('\n');
}

let first: string;
let second: string;

beforeAll(async () => {
  prepareBundles(['monorepo-plan', 'setup', 'build-push', 'bake', 'cli']);
  github = await startGithub();
  world = await startWorld();
  server = mkdtempSync(join(tmpdir(), 'depot-git-server-'));
  repo = join(server, REPOSITORY);
  mkdirSync(repo, { recursive: true });
  cpSync(join(ROOT, 'examples', 'monorepo'), repo, { recursive: true });
  await git('init', '-q', '-b', 'main');
  first = await commit('the monorepo', {});
  // The change of the first run: one file of the api image, a value of this run so no cache has its layer.
  second = await commit('api: say which run built it', {
    'services/api/build-id.txt': `${run}\n`,
  });
});

afterAll(async () => {
  for (const r of results) r.cleanup();
  await world?.close();
  await github?.close();
  if (server) rmSync(server, { recursive: true, force: true });
});

describe('build-monorepo.yml for a push that touches one image', () => {
  let r: WorkflowRunResult;

  it('plans that image only, builds and pushes it with its own cache, and gathers its digest', async () => {
    // With a registry login: the login stand-in writes it into the build leg's own DOCKER_CONFIG.
    r = await callWorkflow({
      before: first,
      after: second,
      with: imagesWith({ 'registry-username': 'robot' }),
      secrets: { 'registry-password': PASSWORD },
    });
    const out = r.output();
    expect(r.result, out).toBe('success');
    expect(Object.fromEntries(Object.values(r.jobs).map((j) => [j.id, j.result]))).toEqual({
      plan: 'success',
      build: 'success',
      bake: 'skipped',
      gather: 'success',
    });
    // The plan: one leg, api, for the path that changed.
    const plan = r.jobs.plan?.outputs ?? {};
    expect(plan.count).toBe('1');
    expect(plan.mode).toBe('images');
    expect(plan['registry-host']).toBe('127.0.0.1:5000');
    const matrix = JSON.parse(plan.matrix ?? '{}') as { include: Array<{ name: string; reason: string }> };
    expect(matrix.include.map((e) => e.name)).toEqual(['api']);
    expect(matrix.include[0]?.reason).toContain('services/api/build-id.txt');
    expect(r.jobs.build?.legs.map((l) => l.name)).toEqual(['build api']);

    // Pushed: api under the short sha (and latest, on the default branch), the others not at all.
    const short = second.slice(0, 7);
    const digest = await registryDigest(`${REGISTRY_PATH}/api`, short);
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await registryDigest(`${REGISTRY_PATH}/api`, 'latest')).toBe(digest);
    for (const other of ['web', 'worker']) {
      expect(await registryDigest(`${REGISTRY_PATH}/${other}`, short)).toBeUndefined();
      expect(await registryDigest(`${REGISTRY_PATH}/${other}`, 'latest')).toBeUndefined();
    }
    // Its own project cache: the cache ref keyed by the image's name, and no other image's.
    expect(await cacheStatus('api')).toBe(200);
    expect(await cacheStatus('web')).toBe(404);
    expect(await cacheStatus('worker')).toBe(404);
    expect(out).toContain(`cache/demo:api`);

    // The workflow's outputs, from the gather job: the digest the registry holds.
    expect(JSON.parse(r.outputs.digests ?? '')).toEqual({ api: digest });
    expect(JSON.parse(r.outputs.built ?? '')).toEqual(['api']);
    const summary = summaries(r, 'gather');
    expect(summary).toContain('services/api/build-id.txt');
    expect(summary).toContain(digest);
    // The OIDC token went to the build leg only (the plan and gather jobs were granted no id-token).
    expect(r.jobs.plan?.legs[0]?.job?.baseEnv().ACTIONS_ID_TOKEN_REQUEST_URL).toBeUndefined();
    expect(r.jobs.build?.legs[0]?.job?.baseEnv().ACTIONS_ID_TOKEN_REQUEST_URL).toBe(
      world.stack.issuer.runtimeUrl,
    );
    const leg = r.jobs.build?.legs[0]?.job;
    const config = JSON.parse(readFileSync(join(leg?.dockerConfig ?? '', 'config.json'), 'utf8')) as unknown;
    expect(config).toEqual({
      auths: { '127.0.0.1:5000': { auth: Buffer.from(`robot:${PASSWORD}`).toString('base64') } },
    });
    expect(r.leakedSecrets()).toEqual([]);
  });

  it('a push that changes nothing any image uses plans nothing, skips the builds and ends green', async () => {
    const third = await commit('docs: a word more', { 'README.md': `# A small monorepo\n\nRun ${run}.\n` });
    const quiet = await callWorkflow({ before: second, after: third, with: imagesWith() });
    const out = quiet.output();
    expect(quiet.result, out).toBe('success');
    expect(Object.fromEntries(Object.values(quiet.jobs).map((j) => [j.id, j.result]))).toEqual({
      plan: 'success',
      build: 'skipped',
      bake: 'skipped',
      gather: 'success',
    });
    expect(quiet.jobs.plan?.outputs.count).toBe('0');
    expect(quiet.jobs.build?.legs).toEqual([]);
    expect(quiet.outputs.digests).toBe('{}');
    expect(JSON.parse(quiet.outputs.built ?? '')).toEqual([]);
    expect(summaries(quiet, 'plan')).toContain(NOTHING_CHANGED);
    expect(summaries(quiet, 'gather')).toContain(NOTHING_CHANGED);
    expect(await registryDigest(`${REGISTRY_PATH}/api`, third.slice(0, 7))).toBeUndefined();
    expect(quiet.leakedSecrets()).toEqual([]);
  });
});

/**
 * Whether the workflow's bake legs build their checkout (`source: .`). Without it the bake action builds the git
 * context https://github.com/<repository>.git#<sha>, which BuildKit fetches from github.com itself: not reachable
 * from the test's engine, so that run cannot be shown here.
 */
describe('build-monorepo.yml with a bake file', () => {
  it('builds the one target a push touched with bake, keyed by its name, and gathers its digest', async () => {
    const before = await git('rev-parse', 'HEAD');
    const after = await commit('worker: say which run built it', {
      'services/worker/build-id.txt': `bake ${run}\n`,
    });
    const r = await callWorkflow({
      before,
      after,
      with: imagesWith({ images: '', 'bake-file': 'docker-bake.hcl', 'tag-prefix': 'bake-' }),
    });
    const out = r.output();
    expect(r.result, out).toBe('success');
    expect(Object.fromEntries(Object.values(r.jobs).map((j) => [j.id, j.result]))).toEqual({
      plan: 'success',
      build: 'skipped',
      bake: 'success',
      gather: 'success',
    });
    expect(r.jobs.plan?.outputs.mode).toBe('bake');
    const matrix = JSON.parse(r.jobs.plan?.outputs.matrix ?? '{}') as { include: Array<{ name: string }> };
    expect(matrix.include.map((e) => e.name)).toEqual(['worker']);
    const digest = await registryDigest(`${REGISTRY_PATH}/bake-worker`, after.slice(0, 7));
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await registryDigest(`${REGISTRY_PATH}/bake-api`, after.slice(0, 7))).toBeUndefined();
    expect(await cacheStatus('worker')).toBe(200);
    expect(JSON.parse(r.outputs.digests ?? '')).toEqual({ worker: digest });
    expect(JSON.parse(r.outputs.built ?? '')).toEqual(['worker']);
    expect(r.leakedSecrets()).toEqual([]);
  });
});
