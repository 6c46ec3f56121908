// actions/use, then a plain `docker buildx build` step: the build goes through depot with the project cache.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/runner';
import { newJob, runSteps } from './scenarios';
import { DEMO, pruneBuilder, registryDigest, startWorld } from './world';
import type { World } from './world';

let world: World;
const run = Date.now().toString(36);
const userConfig = join(process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
const readUserConfig = () => (existsSync(userConfig) ? readFileSync(userConfig, 'utf8') : undefined);

beforeAll(async () => {
  world = await startWorld();
});
afterAll(async () => {
  await world?.close();
});

describe('actions/use', () => {
  it('installs depot, exports a masked DEPOT_TOKEN and a job-local DOCKER_CONFIG; later plain builds use the project cache', async () => {
    const before = readUserConfig();
    const job = newJob(world);
    const use = await job.step(join(ROOT, 'actions', 'use'), {
      inputs: {
        version: world.version,
        'manifest-url': `${world.release.url}/manifest.json`,
        project: 'demo',
      },
    });
    expect(use.exitCode, job.output()).toBe(0);
    expect(use.outputs.version).toBe(world.version);
    const dockerConfig = job.exported.DOCKER_CONFIG ?? '';
    expect(dockerConfig.startsWith(job.temp)).toBe(true);
    expect(job.exported.DEPOT_TOKEN).toBeTruthy();
    expect(job.masks).toContain(job.exported.DEPOT_TOKEN);

    const build = (tag: string) =>
      job.run(
        `docker buildx build --platform linux/amd64 -t 127.0.0.1:5000/demo/use:${tag} --push "${DEMO}/app"`,
      );
    const cold = await build(`cold-${run}`);
    expect(cold.exitCode, cold.stdout + cold.stderr).toBe(0);
    expect(await registryDigest('demo/use', `cold-${run}`)).toMatch(/^sha256:/);

    pruneBuilder();
    const warm = await build(`warm-${run}`);
    expect(warm.exitCode, warm.stdout + warm.stderr).toBe(0);
    // The pruned builder had nothing: the steps came from the project cache in the token-auth registry.
    const steps = runSteps(warm.stdout + warm.stderr);
    expect(steps.cached).toBeGreaterThan(0);
    expect(steps.run).toBe(0);
    expect(world.stack.registryLog()).toContain('cache/demo');

    // Nothing outside the job's temp dirs changed.
    expect(readUserConfig()).toBe(before);
    expect(job.leakedSecrets()).toEqual([]);
    job.cleanup();
  });
});
