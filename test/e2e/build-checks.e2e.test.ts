// Build-check warnings as GitHub annotations, end to end on local contexts: the build-push and bake bundles run as the
// runner runs them, through the depot CLI bundle (no project: a plain build) on the real engine (buildx 0.29). The
// build runs with BUILDX_METADATA_WARNINGS, buildx writes the warnings to the metadata file, and the action
// annotates each one on its Dockerfile's line at the path relative to the workspace (bake: every target's
// Dockerfile). The git-context forms are in git-context.e2e.test.ts.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundlePath, prepareBundles } from '../support/bundles';
import { Job } from '../support/runner';
import { MONOREPO_ACTIONS } from './scenarios';

let bin: string;
const jobs: Job[] = [];

beforeAll(() => {
  prepareBundles(['build-push', 'bake', 'cli']);
  bin = mkdtempSync(join(tmpdir(), 'checks-bin-'));
  writeFileSync(join(bin, 'depot'), `#!/bin/sh\nexec "${process.execPath}" "${bundlePath('cli')}" "$@"\n`);
  chmodSync(join(bin, 'depot'), 0o755);
});

afterAll(async () => {
  for (const j of jobs) {
    await j.finish();
    j.cleanup();
  }
  if (bin) rmSync(bin, { recursive: true, force: true });
});

/** A job whose workspace holds app/Dockerfile (two warnings), app/D1 (one) and a bake file building both. */
function newJob(env: Record<string, string> = {}): Job {
  const job = new Job({
    env: { PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`, BUILDKIT_PROGRESS: 'plain', ...env },
  });
  jobs.push(job);
  const app = join(job.workspace, 'app');
  mkdirSync(app, { recursive: true });
  const bust = `${Date.now()}-${Math.random()}`;
  writeFileSync(join(app, 'Dockerfile'), `FROM scratch as base\nMAINTAINER me\nCOPY hello /hello\n`);
  writeFileSync(join(app, 'D1'), `FROM scratch as one\nCOPY hello /hello\n`);
  writeFileSync(join(app, 'hello'), `${bust}\n`);
  writeFileSync(
    join(job.workspace, 'docker-bake.hcl'),
    [
      'group "default" {\n  targets = ["a", "b"]\n}',
      'target "a" {\n  context = "app"\n  output = ["type=cacheonly"]\n}',
      'target "b" {\n  context = "app"\n  dockerfile = "D1"\n  output = ["type=cacheonly"]\n}',
    ].join('\n'),
  );
  return job;
}

/** `file`:`line` of each build-check annotation the step printed, sorted. */
function annotated(log: string): string[] {
  return [...log.matchAll(/^::warning title=[^\n]*?,file=([^,]+),line=(\d+),endLine=\d+::/gm)]
    .map((m) => `${m[1]}:${m[2]}`)
    .sort();
}

describe('build-check warnings become annotations on the Dockerfile lines', () => {
  it('build-push: a local context, paths relative to the workspace', async () => {
    const job = newJob();
    const r = await job.step(MONOREPO_ACTIONS.buildPush, {
      inputs: { context: 'app', outputs: 'type=cacheonly' },
    });
    const log = job.output();
    expect(r.exitCode, log).toBe(0);
    expect(annotated(log)).toEqual(['app/Dockerfile:1', 'app/Dockerfile:2']);
    expect(log).toContain('Generating GitHub annotations (2 build checks found)');
    expect(log).toMatch(
      /::warning title=The MAINTAINER instruction is deprecated%2C use a label instead to define an image author,file=app\/Dockerfile,line=2,endLine=2::MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label%0AMore info: https:\/\/docs.docker.com\/go\/dockerfile\/rule\/maintainer-deprecated\//,
    );
  });

  it('build-push: `file` names the Dockerfile; DOCKER_BUILD_CHECKS_ANNOTATIONS=false turns them off', async () => {
    const on = newJob();
    expect(
      (
        await on.step(MONOREPO_ACTIONS.buildPush, {
          inputs: { context: 'app', file: 'app/D1', outputs: 'type=cacheonly' },
        })
      ).exitCode,
      on.output(),
    ).toBe(0);
    expect(annotated(on.output())).toEqual(['app/D1:1']);
    const off = newJob({ DOCKER_BUILD_CHECKS_ANNOTATIONS: 'false' });
    expect(
      (await off.step(MONOREPO_ACTIONS.buildPush, { inputs: { context: 'app', outputs: 'type=cacheonly' } }))
        .exitCode,
      off.output(),
    ).toBe(0);
    expect(annotated(off.output())).toEqual([]);
  });

  it("bake: every target's Dockerfile", async () => {
    const job = newJob();
    const r = await job.step(MONOREPO_ACTIONS.bake, { inputs: { source: '.' } });
    const log = job.output();
    expect(r.exitCode, log).toBe(0);
    expect(annotated(log)).toEqual(['app/D1:1', 'app/Dockerfile:1', 'app/Dockerfile:2']);
  });
});
