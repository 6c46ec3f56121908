// actions/use (composite) as the runner runs it, with the depot stand-in already in the tool cache at an exact
// version (setup installs nothing and asks no network): `token` and `project` become the job's DEPOT_TOKEN (masked)
// and DEPOT_PROJECT_ID, as depot/use-action makes them, and the later steps (this action's own
// `depot configure-docker` among them) see them.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prepareBundles } from '../../test/support/bundles';
import { Job, ROOT } from '../../test/support/runner';

const ACTION = join(ROOT, 'actions', 'use');
const STANDINS = join(ROOT, 'test', 'support', 'standins');
const VERSION = '1.2.3';
const TOKEN = 'depot-project-token-use-action-5150';

let job: Job | undefined;
beforeAll(() => prepareBundles(['setup']));
afterEach(() => job?.cleanup());

function newJob(): { job: Job; calls: () => Array<{ args: string[]; depotToken: string | null }> } {
  const j = new Job({ event: { name: 'push', payload: { repository: { full_name: 'acme/web' } } } });
  job = j;
  // A complete tool-cache entry, as @actions/tool-cache leaves one: <tool>/<version>/<arch>/ and <arch>.complete.
  const dir = join(j.toolCache, 'depot', VERSION, process.arch);
  mkdirSync(join(dir, 'bin'), { recursive: true });
  copyFileSync(join(STANDINS, 'depot'), join(dir, 'bin', 'depot'));
  writeFileSync(`${dir}.complete`, '');
  const record = join(j.root, 'record.jsonl');
  j.exported.STANDIN_RECORD = record;
  const calls = () =>
    existsSync(record)
      ? readFileSync(record, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { args: string[]; depotToken: string | null })
      : [];
  return { job: j, calls };
}

describe('actions/use: token and project, as depot/use-action', () => {
  it('exports DEPOT_TOKEN (masked) and DEPOT_PROJECT_ID; no OIDC exchange; the later steps see the token', async () => {
    const { job: j, calls } = newJob();
    const use = await j.step(ACTION, { inputs: { version: VERSION, token: TOKEN, project: 'web' } });
    expect(use.exitCode, use.stdout + use.stderr).toBe(0);
    expect(j.exported.DEPOT_TOKEN).toBe(TOKEN);
    expect(j.masks).toContain(TOKEN);
    expect(j.exported.DEPOT_PROJECT_ID).toBe('web');
    // oidc defaults to true, yet with a token nothing is exchanged (no id-token request is even possible here).
    expect(use.stdout).not.toContain('::error::');
    expect(calls()).toEqual([expect.objectContaining({ args: ['configure-docker'], depotToken: TOKEN })]);
    expect(j.leakedSecrets([TOKEN])).toEqual([]);
  });

  it('without them exports neither (a project known only from the environment is already there)', async () => {
    const { job: j } = newJob();
    const use = await j.step(ACTION, { inputs: { version: VERSION, oidc: 'false' } });
    expect(use.exitCode, use.stdout + use.stderr).toBe(0);
    expect(j.exported.DEPOT_TOKEN).toBeUndefined();
    expect(j.exported.DEPOT_PROJECT_ID).toBeUndefined();
  });

  it('a token or project of more than one line is refused before anything runs', async () => {
    const { job: j, calls } = newJob();
    const use = await j.step(ACTION, { inputs: { version: VERSION, project: 'web\nDEPOT_TOKEN=x' } });
    expect(use.exitCode).toBe(1);
    expect(use.stdout).toContain('::error::Inputs `token` and `project` must be one line each.');
    expect(j.exported.DEPOT_PROJECT_ID).toBeUndefined();
    expect(j.exported.DEPOT_TOKEN).toBeUndefined();
    expect(calls()).toEqual([]);
  });
});
