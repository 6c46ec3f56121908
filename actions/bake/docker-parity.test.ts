// The bake bundle against docker/bake-action v7's behaviour: the definition is read once per step (`bake --print`,
// with the build's BUILDX_BAKE_GIT_AUTH_TOKEN) and handed to the CLI in a file; a definition that cannot be read
// fails the step; `vars` is refused below buildx 0.31 (the stand-in reports 0.29.1, as the engine here); a local
// `source` with a `workdir` is refused; a failed bake still sets its outputs. Run as the runner runs it, with the
// docker and depot stand-ins behind small wrappers of this file's own that record what the stand-ins do not.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prepareBundles } from '../../test/support/bundles';
import { Job, ROOT } from '../../test/support/runner';

const ACTION = join(ROOT, 'actions', 'bake');
const STANDINS = join(ROOT, 'test', 'support', 'standins');
const TOKEN = 'depot-project-token-bake-parity-4242';
const GH_TOKEN = 'ghs_bake_parity_token_0000000000000';

let job: Job | undefined;
beforeAll(() => prepareBundles(['bake']));
afterEach(() => job?.cleanup());

/**
 * `docker` and `depot` wrappers first on PATH. docker: each `bake --print` appends {args, token} to prints.jsonl,
 * and with WRAP_PRINT_FAIL set fails as buildx does on a bad bake file; else the stand-in. depot: appends
 * {args, definition: the file DEPOT_BAKE_DEFINITION names} to depot.jsonl, then, with WRAP_DEPOT_FAIL, writes the
 * metadata file and fails; else the stand-in.
 */
function newJob(env: Record<string, string> = {}): {
  job: Job;
  prints: () => unknown[];
  depots: () => unknown[];
} {
  const j = new Job({
    event: { name: 'push', payload: { repository: { full_name: 'acme/web', private: false } } },
    env: { DEPOT_TOKEN: TOKEN, ...env },
  });
  job = j;
  const bin = join(j.root, 'wrappers');
  mkdirSync(bin);
  const wrap = (name: string, body: string) => {
    const file = join(bin, name);
    writeFileSync(
      file,
      `#!/usr/bin/env node
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const args = process.argv.slice(2);
const log = (file, line) => fs.appendFileSync(${JSON.stringify(j.root)} + '/' + file, JSON.stringify(line) + '\\n');
const standin = () => {
  const r = spawnSync(${JSON.stringify(join(STANDINS, name))}, args, { stdio: 'inherit' });
  process.exit(r.status ?? 1);
};
${body}
standin();
`,
    );
    chmodSync(file, 0o755);
  };
  wrap(
    'docker',
    `if (args[0] === 'buildx' && args[1] === 'bake' && args.includes('--print')) {
  log('prints.jsonl', { args, token: process.env.BUILDX_BAKE_GIT_AUTH_TOKEN ?? null });
  if (process.env.WRAP_PRINT_FAIL) {
    process.stderr.write('ERROR: docker-bake.hcl:3\\nERROR: failed to parse docker-bake.hcl: Unsupported argument\\n');
    process.exit(1);
  }
}`,
  );
  wrap(
    'depot',
    `const file = process.env.DEPOT_BAKE_DEFINITION;
log('depot.jsonl', { args, definition: file && fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : null });
if (process.env.WRAP_DEPOT_FAIL) {
  const meta = args[args.indexOf('--metadata-file') + 1];
  fs.writeFileSync(meta, JSON.stringify({ app: { 'buildx.build.ref': 'default/default/r1' }, 'depot.build': { buildID: 'bldbakefailed000000a', projectID: 'web', isolated: false } }));
  process.stderr.write('ERROR: target app: failed to solve: process "/bin/sh -c false" did not complete successfully: exit code: 1\\n');
  process.exit(1);
}`,
  );
  j.paths.push(bin, STANDINS);
  const lines = (file: string) => () =>
    existsSync(join(j.root, file))
      ? readFileSync(join(j.root, file), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as unknown)
      : [];
  return { job: j, prints: lines('prints.jsonl'), depots: lines('depot.jsonl') };
}

describe('bake: the definition is read once per step', () => {
  it('the action reads it (with the build token of a remote definition) and hands it to the CLI, which reads none', async () => {
    const { job: j, prints, depots } = newJob({ STANDIN_BAKE_TARGETS: 'app' });
    const main = await j.step(ACTION, {
      inputs: { source: '', targets: 'app', 'github-token': GH_TOKEN, vars: '' },
    });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    const git = 'https://github.com/acme/web.git#';
    expect(prints()).toEqual([
      { args: ['buildx', 'bake', expect.stringContaining(git), '--print', 'app'], token: GH_TOKEN },
    ]);
    const [depot] = depots() as Array<{ args: string[]; definition: { target: Record<string, unknown> } }>;
    expect(Object.keys(depot?.definition.target ?? {})).toEqual(['app']);
    // The stand-ins' docker makes up the same targets; the real CLI with that file runs no --print of its own
    // (cli/src/bake-definition.test.ts).
    expect(depot?.args.at(-1)).toBe('app');
    expect(j.masks).toContain(GH_TOKEN);
  });

  it('a definition that cannot be read fails the step in one line, and nothing builds', async () => {
    const { job: j, depots } = newJob({ WRAP_PRINT_FAIL: '1' });
    const main = await j.step(ACTION, { inputs: { source: '.', targets: 'app' } });
    expect(main.exitCode).toBe(1);
    expect(main.stdout).toContain(
      '::error::Reading the bake definition (docker buildx bake --print) failed with: ERROR: failed to parse docker-bake.hcl: Unsupported argument',
    );
    expect(main.stdout + main.stderr).not.toMatch(/\n\s+at /);
    expect(depots()).toEqual([]);
  });
});

describe('bake: v7 inputs', () => {
  it('vars on buildx 0.29 is refused in one line before the definition is read', async () => {
    const { job: j, prints, depots } = newJob();
    const main = await j.step(ACTION, { inputs: { source: '.', vars: 'TAG=1.2.3' } });
    expect(main.exitCode).toBe(1);
    expect(main.stdout).toContain(
      '::error::Input `vars` needs buildx >= 0.31.0; this runner has buildx 0.29.1.',
    );
    expect(prints()).toEqual([]);
    expect(depots()).toEqual([]);
  });

  it('a local source is the directory bake runs in; with a workdir too it is refused in one line', async () => {
    const { job: j, depots } = newJob({ STANDIN_BAKE_TARGETS: 'app' });
    mkdirSync(join(j.workspace, 'svc'));
    const ok = await j.step(ACTION, { inputs: { source: 'svc', targets: 'app' } });
    expect(ok.exitCode, ok.stdout + ok.stderr).toBe(0);
    expect(depots()).toHaveLength(1);
    const both = await j.step(ACTION, { inputs: { source: 'svc', workdir: 'other', targets: 'app' } });
    expect(both.exitCode).toBe(1);
    expect(both.stdout).toContain(
      '::error::Inputs `source` (svc) and `workdir` (other) both set the directory bake runs in: keep `source` (bake-action v7) or `workdir` with `source: .` (v6).',
    );
  });
});

describe('bake: a failed bake still sets its outputs', () => {
  it('metadata, build-id and project-id from what the failed bake wrote; the step fails with its error', async () => {
    const { job: j } = newJob({ WRAP_DEPOT_FAIL: '1' });
    const main = await j.step(ACTION, { inputs: { source: '.', targets: 'app', project: 'web' } });
    expect(main.exitCode).toBe(1);
    expect(main.stdout).toContain('::error::depot bake failed with: ERROR: target app: failed to solve');
    expect(main.outputs['build-id']).toBe('bldbakefailed000000a');
    expect(main.outputs['project-id']).toBe('web');
    expect(JSON.parse(main.outputs.metadata ?? '{}')).toHaveProperty(
      ['depot.build', 'buildID'],
      'bldbakefailed000000a',
    );
    expect(main.outputs.digests).toBe('{}');
  });
});
