// Only Linux runners: the rule as a table, then each JavaScript action's bundle run as the runner runs it with
// RUNNER_OS=macOS / Windows and the recording stand-ins for depot and docker on PATH: one `::error::` line, and
// nothing ran (no process started, no phase group opened, no tool installed).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prepareBundles } from '../test/support/bundles';
import { Job, ROOT } from '../test/support/runner';
import { UserError } from './errors';
import { requireLinuxRunner, runnerOs } from './runner-os';

describe('requireLinuxRunner', () => {
  it.each<[string, NodeJS.ProcessEnv, NodeJS.Platform, string | undefined]>([
    ['a Linux runner', { RUNNER_OS: 'Linux' }, 'linux', undefined],
    ['Linux without RUNNER_OS (another CI)', {}, 'linux', undefined],
    ['a macOS runner', { RUNNER_OS: 'macOS' }, 'darwin', 'macOS'],
    ['a Windows runner', { RUNNER_OS: 'Windows' }, 'win32', 'Windows'],
    ['macOS without RUNNER_OS', {}, 'darwin', 'macOS'],
    ['Windows without RUNNER_OS', {}, 'win32', 'Windows'],
    ['RUNNER_OS Linux on a macOS process', { RUNNER_OS: 'Linux' }, 'darwin', 'macOS'],
    ['RUNNER_OS macOS on a Linux process', { RUNNER_OS: 'macOS' }, 'linux', 'macOS'],
    ['an unknown platform', {}, 'freebsd', 'freebsd'],
  ])('%s', (_name, env, platform, refused) => {
    if (refused === undefined) {
      expect(runnerOs(env, platform)).toBe('Linux');
      expect(() => requireLinuxRunner(env, platform)).not.toThrow();
      return;
    }
    expect(() => requireLinuxRunner(env, platform)).toThrow(
      new UserError(`depot-ci actions run on Linux runners; this runner is ${refused}.`),
    );
  });
});

describe('every JavaScript action refuses a macOS or Windows runner before anything runs', () => {
  const STANDINS = join(ROOT, 'test', 'support', 'standins');
  let job: Job | undefined;
  beforeAll(() => prepareBundles(['setup', 'build-push', 'bake', 'monorepo-plan']), 180_000);
  afterEach(() => job?.cleanup());

  it.each([
    ['setup', 'macOS'],
    ['build-push', 'macOS'],
    ['bake', 'macOS'],
    ['setup', 'Windows'],
    ['build-push', 'Windows'],
    ['bake', 'Windows'],
    ['monorepo-plan', 'macOS'],
  ])('%s on %s', async (action, os) => {
    job = new Job({ env: { RUNNER_OS: os } });
    const record = join(job.root, 'record.jsonl');
    job.paths.push(STANDINS);
    const r = await job.step(join(ROOT, 'actions', action), {
      // Inputs each action refuses: the runner is checked before any input is read.
      inputs: {
        'manifest-url': 'http://127.0.0.1:9/manifest.json',
        context: '.',
        oidc: 'maybe',
        'lint-fail-on': 'fatal',
        mode: 'bogus',
      },
      env: { STANDIN_RECORD: record },
    });
    expect(r.exitCode).toBe(1);
    const lines = r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('::save-state'));
    expect(lines).toEqual([`::error::depot-ci actions run on Linux runners; this runner is ${os}.`]);
    expect(r.stderr).toBe('');
    expect(existsSync(record)).toBe(false); // neither depot nor docker started
    expect(readdirSync(job.toolCache)).toEqual([]);
    expect(job.paths).toEqual([STANDINS]);
    // The post step (build-push, bake) has nothing to clean up and passes.
    for (const post of await job.finish()) expect(post.exitCode, post.stdout).toBe(0);
  });
});
