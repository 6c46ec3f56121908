// The action bundles run as the GitHub runner runs them, against the real broker (over HTTP), the real CLI
// installed by actions/setup from a release server, BuildKit (Docker Engine 28 + buildx 0.29) and real registries.
// The bundles are dist/ when `npm test` has just checked it, else a fresh build (test/support/bundles.ts).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundlePath, freshenReleaseTree, prepareBundles } from '../support/bundles';
import { RegistryClient } from '../support/registry-client';
import { ROOT } from '../support/runner';
import { bakeWorkflow, buildWorkflow, MONOREPO_ACTIONS, runSteps } from './scenarios';
import type { WorkflowRun } from './scenarios';
import {
  DEMO,
  layerDigests,
  pruneBuilder,
  pushClaims,
  registryDigest,
  registryLogMark,
  registryPlatforms,
  startWorld,
  uploadedBlobs,
} from './world';
import type { World } from './world';

let world: World;
const run = `${Date.now().toString(36)}`;
let CLI: string;

beforeAll(async () => {
  prepareBundles(['setup', 'build-push', 'bake', 'cli']);
  CLI = bundlePath('cli');
  world = await startWorld();
});
afterAll(async () => {
  await world?.close();
});

function expectNoLeaks(r: WorkflowRun, extra: string[] = []): void {
  expect(r.job.leakedSecrets(extra)).toEqual([]);
}

function log(r: WorkflowRun): string {
  return r.job.output();
}

describe('scenario 1 and 2: setup then build-push, cold then warm on a pruned builder', () => {
  let cold: WorkflowRun;

  it('builds linux/amd64 + linux/arm64, pushes the manifest list, and sets every output', async () => {
    pruneBuilder();
    cold = await buildWorkflow(world, { tag: `s1-${run}`, inputs: { 'build-args': `BUST=${run}` } });
    expect(cold.setup.exitCode, log(cold)).toBe(0);
    expect(cold.setup.outputs.version).toBe(world.version);
    expect(cold.build.exitCode, log(cold)).toBe(0);
    const digest = await registryDigest('demo/app', `s1-${run}`);
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(cold.build.outputs.digest).toBe(digest);
    expect(await registryPlatforms('demo/app', `s1-${run}`)).toEqual(['linux/amd64', 'linux/arm64']);
    const metadata = JSON.parse(cold.build.outputs.metadata ?? '{}') as Record<string, unknown>;
    expect(metadata['containerimage.digest']).toBe(digest);
    expect(cold.build.outputs['project-id']).toBe('demo');
    expect(cold.build.outputs['build-id']).toMatch(/\S/);
    // The job summary is written by the post step, so a failed build has one too.
    expect(cold.post[0]?.summary).toContain('| Project | demo |');
    expect(cold.post[0]?.summary).toContain(`| Digest | ${digest} |`);
    // One post step ran and passed: build-push's (setup has none).
    expect(cold.post.map((p) => [p.action, p.phase, p.exitCode])).toEqual([
      [MONOREPO_ACTIONS.buildPush, 'post', 0],
    ]);
    // The leak check knows the project token the broker minted for this build by its SHA-256 in the broker's log.
    expect(world.stack.brokerLog()).toMatch(/"tokenSha256":"[0-9a-f]{64}"/);
    expectNoLeaks(cold);
  });

  it('imports the project cache from the registry after a prune: every RUN step cached, no layer uploaded again', async () => {
    pruneBuilder();
    const mark = registryLogMark();
    const warm = await buildWorkflow(world, { tag: `s2-${run}`, inputs: { 'build-args': `BUST=${run}` } });
    expect(warm.build.exitCode, log(warm)).toBe(0);
    const steps = runSteps(log(warm));
    expect(steps.cached).toBeGreaterThan(0);
    expect(steps.run).toBe(0);
    // The image's layers are the cold run's, and none of them was uploaded again (only the new provenance was).
    const layers = await layerDigests('demo/app', `s2-${run}`);
    expect(layers.length).toBeGreaterThan(0);
    expect(layers).toEqual(await layerDigests('demo/app', `s1-${run}`));
    expect(uploadedBlobs('demo/app', mark).filter((d) => layers.includes(d))).toEqual([]);
    console.log(`cold build ${cold.durationMs} ms, warm build on a pruned builder ${warm.durationMs} ms`);
    expectNoLeaks(warm);
  });
});

describe('cache-key: each image of a monorepo its own project cache', () => {
  it('two builds with different cache-key values write two cache refs', async () => {
    const keys = [`image-a-${run}`, `image-b-${run}`];
    const cache = new RegistryClient(
      world.stack.registryHost,
      await world.stack.projectToken(pushClaims(), 'demo'),
    );
    const status = async () =>
      (await Promise.all(keys.map((key) => cache.manifestDigest('cache/demo', key)))).map((r) => r.status);
    expect(await status()).toEqual([404, 404]);
    for (const key of keys) {
      const r = await buildWorkflow(world, {
        tag: `ck-${key}`,
        platforms: 'linux/amd64',
        inputs: { 'build-args': `BUST=${run}`, 'cache-key': key },
      });
      expect(r.build.exitCode, log(r)).toBe(0);
      expect(r.build.stdout).toContain(`--cache-key ${key}`);
    }
    expect(await status()).toEqual([200, 200]);
  });
});

describe('scenario 3: bake with two targets', () => {
  it('pushes both and outputs each target digest', async () => {
    const r = await bakeWorkflow(world, { tag: `s3-${run}` });
    expect(r.build.exitCode, log(r)).toBe(0);
    const digests = JSON.parse(r.build.outputs.digests ?? '{}') as Record<string, string>;
    expect(digests.app).toBe(await registryDigest('demo/app', `s3-${run}`));
    expect(digests.worker).toBe(await registryDigest('demo/worker', `s3-${run}`));
    expect(r.post[0]?.summary).toContain('| app |');
    expectNoLeaks(r);
  });
});

describe('scenario 4: a repository with no trust relationship', () => {
  it('fails with the broker code and a request id, tells the stranger nothing more, and pushes nothing', async () => {
    const r = await buildWorkflow(world, {
      tag: `s4-${run}`,
      repository: 'mallory/web',
      repositoryId: '666',
    });
    expect(r.build.exitCode).toBe(1);
    const m =
      /::error::The broker refused the token exchange \(403 no_trust_relationship, request id ([A-Za-z0-9_-]+)\): no trust relationship accepts this token: give the broker operator the request id of this answer\n/.exec(
        r.build.stdout,
      );
    expect(m, r.build.stdout).not.toBeNull();
    expect(await registryDigest('demo/app', `s4-${run}`)).toBeUndefined();
    expectNoLeaks(r);
    // The operator reads the reason under that request id.
    const audit = world.stack.brokerCli([
      'audit',
      '--request',
      m?.[1] ?? '',
      '--data-dir',
      world.stack.dataDir,
    ]);
    expect(audit.status, audit.stderr).toBe(0);
    expect(audit.stdout).toMatch(
      /"repository":"mallory\/web".*"message":"no trust relationship in project demo for repository \\"mallory\/web\\"/,
    );
  });
});

describe('scenario 5: buildx-fallback when the broker is down', () => {
  it('still builds through plain buildx, with a warning', async () => {
    const r = await buildWorkflow(world, {
      tag: `s5-${run}`,
      platforms: 'linux/amd64',
      env: { DEPOT_BROKER_URL: 'http://127.0.0.1:9' },
      inputs: { 'buildx-fallback': 'true' },
    });
    expect(r.build.exitCode, log(r)).toBe(0);
    expect(r.build.stdout).toContain('::warning::Building with plain docker buildx (buildx-fallback)');
    expect(await registryDigest('demo/app', `s5-${run}`)).toBe(r.build.outputs.digest);
    expectNoLeaks(r);
  });
});

describe('scenario 6: projects are separate; a saved build comes back by its id', () => {
  it("a second project's token cannot read the first project's cache, even when it names it", async () => {
    const demoCache = `type=registry,ref=${world.stack.registryHost}/cache/demo:default`;
    const build = (token: string) => {
      pruneBuilder();
      const args = [
        'build',
        '--platform',
        'linux/amd64',
        '--build-arg',
        `BUST=${run}`,
        '--cache-from',
        demoCache,
      ];
      const res = spawnSync('node', [CLI, ...args, join(DEMO, 'app')], {
        env: { ...process.env, DEPOT_TOKEN: token },
        encoding: 'utf8',
      });
      const out = `${res.stdout}${res.stderr}`;
      expect(res.status, out).toBe(0);
      expect(out).not.toContain(token);
      return runSteps(out);
    };
    // Control: demo's own token imports demo's cache (scenario 2 wrote it) on a pruned builder.
    expect(build(await world.stack.projectToken(pushClaims(), 'demo')).run).toBe(0);
    // The other project's token names the same cache: the registry refuses it, every step runs.
    const other = build(await world.stack.projectToken(pushClaims('acme/other', '777'), 'other'));
    expect(other.cached).toBe(0);
    expect(other.run).toBeGreaterThan(0);
  });

  it('save: true pushes to builds/<project>; depot pull brings it back by the build id', async () => {
    const r = await buildWorkflow(world, {
      tag: `s6-${run}`,
      platforms: 'linux/amd64',
      inputs: { save: 'true' },
    });
    expect(r.build.exitCode, log(r)).toBe(0);
    const buildId = r.build.outputs['build-id'] as string;
    expect(buildId).toMatch(/\S/);
    const token = await world.stack.projectToken(undefined, 'demo');
    execFileSync('node', [CLI, 'pull', '--project', 'demo', '-t', `pulled:${run}`, buildId], {
      env: { ...process.env, DEPOT_TOKEN: token },
      stdio: 'pipe',
    });
    const images = execFileSync('docker', ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'], {
      encoding: 'utf8',
    });
    expect(images).toContain(`pulled:${run}`);
  });
});

describe('scenario 7: the standalone tree of release:actions runs like the monorepo action', () => {
  it('builds and pushes with uses: <owner>/build-push-action@v1 layout', async () => {
    const out = mkdtempSync(join(tmpdir(), 'actions-'));
    execFileSync('npm', ['run', '--silent', 'release:actions', '--', '--out', out], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    // release:actions copies dist/: unless it is checked, the trees get the fresh bundles instead.
    freshenReleaseTree(out, ['setup', 'build-push', 'bake']);
    const r = await buildWorkflow(world, {
      tag: `s7-${run}`,
      actions: {
        setup: join(out, 'setup-action'),
        buildPush: join(out, 'build-push-action'),
        bake: join(out, 'bake-action'),
      },
    });
    expect(readFileSync(join(out, 'build-push-action', 'action.yml'), 'utf8')).toContain(
      'main: dist/index.js',
    );
    expect(r.build.exitCode, log(r)).toBe(0);
    expect(r.build.outputs.digest).toBe(await registryDigest('demo/app', `s7-${run}`));
    expectNoLeaks(r);
  });
});
