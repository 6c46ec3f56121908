// The bake bundle, run as the GitHub runner runs it (main, then post), with the recording stand-ins for depot and
// docker on PATH (test/support/standins). The bundle is dist/bake when `npm test` has just checked dist/, else a
// fresh build of the sources (test/support/bundles.ts). The real CLI and BuildKit run it in the end-to-end tests.
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prepareBundles } from '../../test/support/bundles';
import { Job, ROOT } from '../../test/support/runner';

const ACTION = join(ROOT, 'actions', 'bake');
const STANDINS = join(ROOT, 'test', 'support', 'standins');
const TOKEN = 'depot-project-token-bake-987654';

let job: Job | undefined;
beforeAll(() => prepareBundles(['bake']));
afterEach(() => job?.cleanup());

interface Call {
  tool: 'depot' | 'docker';
  args: string[];
  depotToken: string | null;
}

/** The builds the stand-ins recorded (docker's probes, `buildx version` and `bake --print`, are not recorded). */
function calls(record: string): Call[] {
  if (!existsSync(record)) return [];
  return readFileSync(record, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Call);
}

describe('bake bundle', () => {
  it('runs depot bake in workdir with the targets last, outputs per-target digests, summarises, cleans up', async () => {
    job = new Job({
      event: { name: 'push', payload: { repository: { full_name: 'acme/web', private: false } } },
      env: { DEPOT_TOKEN: TOKEN, STANDIN_BAKE_TARGETS: 'app,worker' },
    });
    const record = join(job.root, 'record.jsonl');
    job.exported.STANDIN_RECORD = record;
    job.paths.push(STANDINS);
    const workdir = join(job.workspace, 'svc');
    mkdirSync(workdir);
    const main = await job.step(ACTION, {
      inputs: {
        source: '.',
        workdir: 'svc',
        targets: 'app,worker',
        push: 'true',
        set: '*.platform=linux/amd64',
        project: 'web',
      },
    });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    const [depot] = calls(record);
    expect(depot?.tool).toBe('depot');
    expect(depot?.depotToken).toBe(TOKEN);
    expect(depot?.args[0]).toBe('bake');
    expect(depot?.args.slice(-4)).toEqual(['--project', 'web', 'app', 'worker']);
    expect(depot?.args).toEqual(expect.arrayContaining(['--set', '*.platform=linux/amd64', '--push']));
    expect(JSON.parse(main.outputs.digests ?? '{}')).toEqual({
      app: `sha256:${'3'.repeat(64)}`,
      worker: `sha256:${'4'.repeat(64)}`,
    });
    expect(main.outputs['build-id']).toBe('bld_standin2');
    expect(main.summary).toBe('');
    expect(readdirSync(job.temp)).toHaveLength(1);
    const [post] = await job.finish();
    expect(post?.exitCode).toBe(0);
    // The summary is the post step's: one row per target.
    expect(post?.summary).toContain('## Depot bake');
    expect(post?.summary).toContain('| Status | :white_check_mark: success |');
    expect(post?.summary).toContain('| Target | Platforms | Tags | Digest |');
    expect(post?.summary).toContain(
      `| app | linux/amd64 | localhost:5000/app:latest | sha256:${'3'.repeat(64)} |`,
    );
    expect(post?.summary).toContain(
      `| worker | linux/amd64 | localhost:5000/worker:latest | sha256:${'4'.repeat(64)} |`,
    );
    expect(readdirSync(job.temp)).toEqual([]);
    expect(job.leakedSecrets([TOKEN])).toEqual([]);
  });

  it('a workdir that does not exist fails in one line', async () => {
    job = new Job({});
    job.paths.push(STANDINS);
    const main = await job.step(ACTION, { inputs: { source: '.', workdir: 'nope' } });
    expect(main.exitCode).toBe(1);
    expect(main.stdout).toContain('::error::Input `workdir`: nope does not exist or is not a directory.');
  });
});
