// A pull request from a fork, end to end: the real setup and build-push bundles in a `pull_request` job whose head
// is another owner's repository (no OIDC token, DEPOT_BROKER_URL written literally), the real broker with
// `github.api_url` at the GitHub stand-in (test/support/github-api.ts: the REST API it asks, and the artifact
// service the bundle's @actions/artifact uploads the claim artifact to) and a project with `fork_policy: isolated`,
// BuildKit, the token-auth cache registry and the plain registry. A fork build gets an isolated project token: it
// builds and pushes, but never reads or writes the project cache, and the registry itself refuses it the cache.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGithub } from '../support/github-api';
import type { GithubStandIn } from '../support/github-api';
import { prepareBundles } from '../support/bundles';
import { RegistryClient } from '../support/registry-client';
import { addForkRun, buildWorkflow, claimForkToken, forkBuildWorkflow, runSteps } from './scenarios';
import type { WorkflowRun } from './scenarios';
import { FORK_PROJECTS_YAML, pruneBuilder, pushClaims, registryDigest, startWorld } from './world';
import type { World } from './world';

let world: World;
let github: GithubStandIn;
const run = Date.now().toString(36);
/** Every build here uses this BUST: a build that read the project cache would find every RUN step in it. */
const BUST = `fork-${run}`;
const CACHE_REPO = 'cache/demo';

beforeAll(async () => {
  prepareBundles(['setup', 'build-push', 'cli']);
  github = await startGithub();
  world = await startWorld(FORK_PROJECTS_YAML, {
    github: { apiUrl: github.api.url, tokenEnv: 'BROKER_GITHUB_TOKEN' },
    brokerEnv: { BROKER_GITHUB_TOKEN: github.api.token },
  });
  // The project cache a trusted push wrote: what a fork must neither read nor overwrite.
  pruneBuilder();
  const trusted = await buildWorkflow(world, {
    tag: `fork-base-${run}`,
    platforms: 'linux/amd64',
    inputs: { 'build-args': `BUST=${BUST}` },
  });
  if (trusted.build.exitCode !== 0) throw new Error(`the trusted build failed:\n${trusted.job.output()}`);
});
afterAll(async () => {
  await world?.close();
  await github?.close();
});

function log(r: WorkflowRun): string {
  return r.job.output();
}

async function cacheDigest(): Promise<string | undefined> {
  const demo = new RegistryClient(
    world.stack.registryHost,
    await world.stack.projectToken(pushClaims(), 'demo'),
  );
  const r = await demo.manifestDigest(CACHE_REPO, 'default');
  expect(r.status, `HEAD ${CACHE_REPO}:default with the demo token`).toBe(200);
  return r.digest;
}

describe('a pull request from a fork with fork_policy: isolated', () => {
  it('claims an isolated token through its own run, builds and pushes with no cache import or export', async () => {
    const before = await cacheDigest();
    pruneBuilder();
    const r = await forkBuildWorkflow(world, github, {
      tag: `fork-${run}`,
      inputs: { 'build-args': `BUST=${BUST}` },
    });
    expect(r.build.exitCode, log(r)).toBe(0);
    // GitHub gives a fork's run no OIDC token: the job had no way to ask for one.
    expect(r.job.baseEnv().ACTIONS_ID_TOKEN_REQUEST_URL).toBeUndefined();
    // The claim artifact was uploaded by the bundle's @actions/artifact to this run, and the broker saw it listed.
    // (The post step also uploads the build record, `<owner>~<repo>~<ref>.dockerbuild`, as docker's action does.)
    const artifacts = github.runs
      .artifactsOf(r.run.repository, r.run.runId)
      .map((a) => a.name)
      .filter((name) => !name.endsWith('.dockerbuild'));
    expect(artifacts).toEqual([expect.stringMatching(/^depot-claim-[A-Za-z0-9_-]{22}$/)]);
    expect(github.api.requests).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^GET /repos/acme/web/actions/runs/${r.run.runId}/artifacts\\?name=${artifacts[0] ?? ''}(&|$)`,
        ),
      ),
    );
    // Built and pushed; the CLI says isolated; BuildKit neither imported nor exported the project cache.
    expect(await registryDigest('demo/app', `fork-${run}`)).toBe(r.build.outputs.digest);
    const out = log(r);
    expect(out).toContain('this build is isolated');
    expect(out).not.toMatch(/importing cache manifest from/);
    expect(out).not.toMatch(/exporting cache to/);
    expect(out).not.toContain(`${world.stack.registryHost}/${CACHE_REPO}`);
    const steps = runSteps(out);
    expect(steps.cached).toBe(0);
    expect(steps.run).toBeGreaterThan(0);
    const metadata = JSON.parse(r.build.outputs.metadata ?? '{}') as Record<string, { isolated?: boolean }>;
    expect(metadata['depot.build']?.isolated).toBe(true);
    expect(r.build.outputs['project-id']).toBe('demo');
    // The job summary is written by the post step.
    expect(r.post[0]?.summary).toMatch(/\| Isolated \| yes\b/);
    expect(r.post[0]?.summary).toContain('mallory/web');
    expect(r.post.map((p) => p.exitCode)).toEqual([0]);
    expect(r.job.leakedSecrets()).toEqual([]);
    expect(await cacheDigest()).toBe(before);
  });

  it("the isolated token's own push and pull of the cache repository are refused by the registry", async () => {
    const token = await claimForkToken(world, github, addForkRun(github));
    const isolated = new RegistryClient(world.stack.registryHost, token);
    // The broker's token service hands it a registry token (it is a valid project token) that grants nothing: the
    // registry answers with its own refusal, naming the access it would have needed.
    const pull = await isolated.pullManifest(CACHE_REPO, 'default');
    expect(pull).toMatchObject({ status: 401, error: 'UNAUTHORIZED' });
    expect(pull.body?.toString()).toContain('"Action":"pull"');
    const push = await isolated.pushImage(CACHE_REPO, `fork-${run}`, `fork ${run}`);
    expect(push).toMatchObject({ status: 401, error: 'UNAUTHORIZED' });
    expect(push.body?.toString()).toContain('"Action":"push"');
    // Control: the trusted token reads the same manifest.
    expect(await cacheDigest()).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('its own cache-from/cache-to at the project cache read nothing and leave the cache manifest unchanged', async () => {
    const before = await cacheDigest();
    const ref = `type=registry,ref=${world.stack.registryHost}/${CACHE_REPO}:default`;
    pruneBuilder();
    const r = await forkBuildWorkflow(world, github, {
      tag: `fork-own-${run}`,
      inputs: { 'build-args': `BUST=${BUST}`, 'cache-from': ref, 'cache-to': `${ref},mode=max` },
    });
    // Its export to a cache it may not write may fail the build; what matters is what it read and wrote.
    const out = log(r);
    const steps = runSteps(out);
    expect(steps.run, out).toBeGreaterThan(0);
    expect(steps.cached, out).toBe(0);
    // BuildKit asked the cache registry and was refused: it read nothing, and its export did not land.
    expect(out).toMatch(/ERROR: failed to configure registry cache importer: .*401 Unauthorized/);
    if (r.build.exitCode !== 0) expect(out).toMatch(/exporting cache to registry[\s\S]*ERROR: /);
    expect(await cacheDigest()).toBe(before);
    expect(r.job.leakedSecrets()).toEqual([]);
  });

  it('an artifact service that refuses the upload (403) fails the step at once, and nothing is pushed', async () => {
    github.artifacts.faults.failNext('CreateArtifact', 403);
    const r = await forkBuildWorkflow(world, github, { tag: `fork-noupload-${run}` });
    expect(r.build.exitCode).toBe(1);
    expect(r.build.stdout).toMatch(
      /::error::Fork claim failed: the claim artifact depot-claim-[A-Za-z0-9_-]{22} could not be uploaded \(.*CreateArtifact.*403/,
    );
    expect(r.durationMs).toBeLessThan(30_000);
    // No claim was made: the only artifact is the post step's build record.
    expect(
      github.runs.artifactsOf(r.run.repository, r.run.runId).filter((a) => !a.name.endsWith('.dockerbuild')),
    ).toEqual([]);
    expect(await registryDigest('demo/app', `fork-noupload-${run}`)).toBeUndefined();
    expect(r.job.leakedSecrets()).toEqual([]);
  });

  it('a run whose pull request has moved on is refused by the broker (pull_request_mismatch), whatever buildx-fallback says', async () => {
    const r = await forkBuildWorkflow(world, github, {
      tag: `fork-moved-${run}`,
      // The fork pushed again while this run was going: the pull request's head is no longer this run's.
      prepare: (forkRun) => {
        const pull = github.runs.pull(forkRun.repository, forkRun.pullRequest ?? 0);
        if (pull) github.runs.addPull({ ...pull, headSha: 'b'.repeat(40) });
      },
      inputs: { 'buildx-fallback': 'true' },
    });
    expect(r.build.exitCode, log(r)).toBe(1);
    expect(r.build.stdout).toMatch(
      /::error::The broker refused the fork claim(?: exchange)? \(403 pull_request_mismatch\b/,
    );
    expect(r.build.stdout).not.toContain('plain docker buildx');
    expect(await registryDigest('demo/app', `fork-moved-${run}`)).toBeUndefined();
    expect(r.job.leakedSecrets()).toEqual([]);
  });

  it('builds plain with buildx-fallback when the broker is down', async () => {
    const r = await forkBuildWorkflow(world, github, {
      tag: `fork-down-${run}`,
      env: { DEPOT_BROKER_URL: 'http://127.0.0.1:9' },
      inputs: { 'buildx-fallback': 'true', 'build-args': `BUST=${BUST}` },
    });
    expect(r.build.exitCode, log(r)).toBe(0);
    expect(r.build.stdout).toContain('::warning::Building with plain docker buildx (buildx-fallback)');
    expect(r.post[0]?.summary).toContain('none (plain buildx)');
    expect(await registryDigest('demo/app', `fork-down-${run}`)).toBe(r.build.outputs.digest);
    // No claim was made: the only artifact is the post step's build record.
    expect(
      github.runs.artifactsOf(r.run.repository, r.run.runId).filter((a) => !a.name.endsWith('.dockerbuild')),
    ).toEqual([]);
    expect(r.job.leakedSecrets()).toEqual([]);
  });
});
