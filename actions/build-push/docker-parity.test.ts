// The build-push bundle where docker/build-push-action gives a result rather than an error: secrets it cannot read
// are skipped with a warning (the build goes on), and a failed build still sets the outputs from what it wrote. Run
// as the runner runs it, with the docker stand-in and, for the failed build, a depot stand-in of this file's own
// that writes the metadata file (buildx's build ref and the CLI's depot.build) and then fails.
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prepareBundles } from '../../test/support/bundles';
import { Job, ROOT } from '../../test/support/runner';

const ACTION = join(ROOT, 'actions', 'build-push');
const STANDINS = join(ROOT, 'test', 'support', 'standins');
const TOKEN = 'depot-project-token-parity-0123456789';
const SECRET = 'npm_parity_secret_value_77';

let job: Job;
beforeAll(() => prepareBundles(['build-push']));
afterEach(() => job?.cleanup());

function newJob(): Job {
  job = new Job({
    repository: 'acme/web',
    event: { name: 'push', payload: { repository: { full_name: 'acme/web', private: false } } },
  });
  job.paths.push(STANDINS);
  return job;
}

describe('build-push: secrets docker/build-push-action skips', () => {
  it('an empty secret, a missing secret file and a malformed secret-env are warnings; the build goes on with the rest', async () => {
    const j = newJob();
    const record = join(j.root, 'record.jsonl');
    j.exported.STANDIN_RECORD = record;
    const main = await j.step(ACTION, {
      inputs: {
        context: '.',
        token: TOKEN,
        // A fork's run expands `${{ secrets.FROM_FORK }}` to nothing.
        secrets: `FROM_FORK=\nNPM_TOKEN=${SECRET}`,
        'secret-files': 'SSH_KEY=/does/not/exist/id_ed25519',
        'secret-envs': 'NO_VARIABLE',
      },
    });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);
    const warnings = main.stdout.split('\n').filter((l) => l.startsWith('::warning::'));
    expect(warnings).toEqual([
      '::warning::Input `secret-envs`: an entry is not KEY=value (one per line): it is skipped.',
      "::warning::Input `secrets`: the secret FROM_FORK is empty (a fork's or Dependabot's run cannot read repository secrets): it is skipped.",
      '::warning::Input `secret-files`: the file for secret SSH_KEY does not exist (/does/not/exist/id_ed25519): the secret is skipped.',
    ]);
    const [depot] = readFileSync(record, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { tool: string; args: string[]; secrets: Record<string, string | null> });
    expect(depot?.tool).toBe('depot');
    expect(depot?.secrets).toEqual({ NPM_TOKEN: SECRET });
    expect(depot?.args.filter((a) => a.startsWith('id='))).toEqual([
      expect.stringMatching(/^id=NPM_TOKEN,src=/),
    ]);
    // Masked at once (the runner hides it), and never in a warning or any other line.
    expect(j.masks).toContain(SECRET);
    const shown = (main.stdout + main.stderr).split('\n').filter((l) => !l.startsWith('::add-mask::'));
    expect(shown.join('\n')).not.toContain(SECRET);
  });
});

describe('build-push: a failed build still sets its outputs, as docker/build-push-action does', () => {
  const META = {
    'buildx.build.ref': 'default/default/x1y2z3',
    'depot.build': { buildID: 'bldfailed0000000000a', projectID: 'web', isolated: false },
  };

  /** A depot that writes the image id and metadata files it is given, then fails as a failed RUN does. */
  function failingDepot(j: Job): void {
    const bin = join(j.root, 'failing-bin');
    mkdirSync(bin);
    const script = join(bin, 'depot');
    writeFileSync(
      script,
      `#!/usr/bin/env node
const fs = require('node:fs');
const args = process.argv.slice(2);
const at = (f) => (args.includes(f) ? args[args.indexOf(f) + 1] : undefined);
if (at('--metadata-file')) fs.writeFileSync(at('--metadata-file'), ${JSON.stringify(JSON.stringify(META))});
if (at('--iidfile')) fs.writeFileSync(at('--iidfile'), 'sha256:${'4'.repeat(64)}');
process.stderr.write('ERROR: failed to solve: process "/bin/sh -c false" did not complete successfully: exit code: 1\\n');
process.exit(1);
`,
    );
    chmodSync(script, 0o755);
    symlinkSync(join(STANDINS, 'docker'), join(bin, 'docker'));
    j.paths.unshift(bin);
  }

  it('imageid, metadata, build-id and project-id come from the files the failed build wrote; the step fails with its error', async () => {
    const j = newJob();
    failingDepot(j);
    const main = await j.step(ACTION, { inputs: { context: '.', token: TOKEN, project: 'web' } });
    expect(main.exitCode).toBe(1);
    expect(main.stdout).toContain(
      '::error::depot build failed with: ERROR: failed to solve: process "/bin/sh -c false" did not complete successfully: exit code: 1',
    );
    expect(main.outputs.imageid).toBe(`sha256:${'4'.repeat(64)}`);
    expect(JSON.parse(main.outputs.metadata ?? '{}')).toEqual(META);
    expect(main.outputs['build-id']).toBe('bldfailed0000000000a');
    expect(main.outputs['project-id']).toBe('web');
    // Nothing was pushed: no digest.
    expect(main.outputs.digest).toBeUndefined();
    expect(main.stdout + main.stderr).not.toMatch(/\n\s+at /);
  });

  it('a failure before any build (a bad input) sets no outputs', async () => {
    const j = newJob();
    const main = await j.step(ACTION, { inputs: { context: '.', push: 'yes' } });
    expect(main.exitCode).toBe(1);
    expect(main.outputs).toEqual({});
    expect(existsSync(join(j.root, 'record.jsonl'))).toBe(false);
  });
});
