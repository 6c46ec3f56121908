// The switch from docker/build-push-action: change the `uses:` line, grant `id-token: write`, set DEPOT_BROKER_URL,
// and no setup step. The build-push bundle runs as the GitHub runner runs it with a PATH proven to lack `depot` and
// an empty tool cache: it installs the CLI from the world's release server (the CLI release of its own version),
// says so in one line, adds it to PATH for later steps, and builds with the project cache through the real broker,
// BuildKit and cache registry. A second job with the warm tool cache makes no request to the release server.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareBundles } from '../support/bundles';
import { RegistryClient } from '../support/registry-client';
import type { Job, StepResult } from '../support/runner';
import { MONOREPO_ACTIONS, newJob } from './scenarios';
import { DEMO, pushClaims, registryDigest, startWorld } from './world';
import type { World } from './world';

const run = Date.now().toString(36);
const KEY = `switch-${run}`;
const PLATFORM = `${process.platform}-${process.arch}`;

let world: World;
let manifestUrl: string;
const jobs: Job[] = [];

beforeAll(async () => {
  prepareBundles(['build-push', 'cli']);
  world = await startWorld();
  manifestUrl = `${world.release.url}/manifest.json`;
});
afterAll(async () => {
  for (const j of jobs) j.cleanup();
  await world?.close();
});

/** The machine's PATH without any folder holding an executable `depot`. */
function pathWithoutDepot(): string {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => {
      try {
        accessSync(join(dir, 'depot'), constants.X_OK);
        return false;
      } catch {
        return true;
      }
    })
    .join(delimiter);
}

/** `which depot` under `path`: its exit status and what it printed (async: the stub servers live in this process). */
function which(path: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('which', ['depot'], { env: { PATH: path }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, out: out.trim() }));
  });
}

/** build-push alone (no setup step) on examples/demo/app, with `path` as the step's PATH. */
async function buildPush(job: Job, path: string, tag: string): Promise<StepResult> {
  return job.step(MONOREPO_ACTIONS.buildPush, {
    inputs: {
      context: join(DEMO, 'app'),
      platforms: 'linux/amd64',
      push: 'true',
      tags: `127.0.0.1:5000/demo/app:${tag}`,
      project: 'demo',
      'cache-key': KEY,
      'build-args': `BUST=${run}`,
      'manifest-url': manifestUrl,
    },
    env: { PATH: path },
  });
}

const log = (job: Job) => job.output();
const requested = () => world.release.requests.map((r) => `${r.method} ${r.path}`);

describe('build-push with no setup step and no depot on PATH', () => {
  let noDepot: string;
  let cold: Job;

  it('installs the CLI of its own version from the release server, says so in one line, and builds with the project cache', async () => {
    noDepot = pathWithoutDepot();
    const proof = await which(noDepot);
    expect(proof.code, `depot found at ${proof.out}`).not.toBe(0);
    expect(proof.out).toBe('');

    cold = newJob(world);
    jobs.push(cold);
    expect(readdirSync(cold.toolCache)).toEqual([]);
    world.release.requests.length = 0;
    const cache = new RegistryClient(
      world.stack.registryHost,
      await world.stack.projectToken(pushClaims(), 'demo'),
    );
    expect((await cache.manifestDigest('cache/demo', KEY)).status).toBe(404);

    const r = await buildPush(cold, noDepot, `sw1-${run}`);
    expect(r.exitCode, log(cold)).toBe(0);

    // The one line, then the install into the tool cache from the manifest the input names.
    const installLine = `depot CLI not on PATH: installing ${world.version} (this action's version) from ${manifestUrl} (no setup step needed)`;
    expect(r.stdout.split('\n')).toContain(installLine);
    const tarball = `depot-${world.version}-${PLATFORM}.tar.gz`;
    expect(requested()).toEqual(['GET /manifest.json', `GET /${tarball}`]);
    const dir = join(cold.toolCache, 'depot', world.version, process.arch);
    expect(existsSync(`${dir}.complete`)).toBe(true);
    // On PATH for the job's later steps: a later `run:` step finds `depot` by name.
    expect(cold.paths).toEqual([join(dir, 'bin')]);
    const later = await cold.run('depot version', {
      env: { PATH: [...cold.paths, noDepot].join(delimiter) },
    });
    expect(later.exitCode, later.stderr).toBe(0);
    expect(later.stdout).toContain(world.version);

    // The build ran with the project cache: the CLI read and wrote it, buildx imported from and exported to it.
    const ref = `${world.stack.registryHost}/cache/demo:${KEY}`;
    expect(log(cold)).toContain(
      `project "demo": cache read and write at ${world.stack.registryHost}/cache/demo`,
    );
    expect(log(cold)).toMatch(new RegExp(`importing cache manifest from ${ref.replace(/[.]/g, '\\.')}`));
    expect((await cache.manifestDigest('cache/demo', KEY)).status).toBe(200);
    expect(r.outputs.digest).toBe(await registryDigest('demo/app', `sw1-${run}`));
    expect(r.outputs['project-id']).toBe('demo');
    expect(cold.leakedSecrets()).toEqual([]);
    for (const post of await cold.finish()) expect(post.exitCode, post.stdout).toBe(0);
  });

  it('a second job with the warm tool cache makes no request to the release server, and reads the project cache', async () => {
    expect(cold, 'the cold job ran').toBeDefined();
    world.release.requests.length = 0;
    const warm = newJob(world, { toolCache: cold.toolCache });
    jobs.push(warm);
    const r = await buildPush(warm, noDepot, `sw2-${run}`);
    expect(r.exitCode, log(warm)).toBe(0);
    expect(world.release.requests).toEqual([]);
    expect(r.stdout).toContain(`depot ${world.version} is in the tool cache`);
    const ref = `${world.stack.registryHost}/cache/demo:${KEY}`;
    expect(log(warm)).toMatch(new RegExp(`importing cache manifest from ${ref.replace(/[.]/g, '\\.')}`));
    expect(r.outputs.digest).toBe(await registryDigest('demo/app', `sw2-${run}`));
    expect(warm.leakedSecrets()).toEqual([]);
    for (const post of await warm.finish()) expect(post.exitCode, post.stdout).toBe(0);
  });
});
