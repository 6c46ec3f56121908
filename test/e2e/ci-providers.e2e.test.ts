// CircleCI, GitLab CI and Buildkite jobs, end to end (issue 21): the CLI release (`npm run release:cli` through
// test/support/release.ts, unpacked as a user installs it) runs bin/depot in each CI's job environment (its
// CIRCLE_*, CI_*, BUILDKITE_* variables, test/support/ci-providers.ts), with no DEPOT_TOKEN and DEPOT_BROKER_URL set.
// It gets the CI's OIDC token as that CI hands it out (the `circleci` and `buildkite-agent` stand-ins printing tokens
// of a local issuer at the CI's path-prefixed iss; GitLab's id_tokens variable DEPOT_OIDC_TOKEN), exchanges it at
// the real broker (one issuer entry per provider, one project per CI whose rule pins what that provider requires),
// builds with the real BuildKit and pushes to the plain registry, with the project cache in the token-auth
// registry. Per CI: a push builds and a rebuild on a pruned builder takes its steps from the project cache, with one
// exchange for the job; a fork's build makes no exchange and builds without the cache; a token no rule accepts fails
// with the broker's code and request id; the broker down is exit 69; no CI or project token in any output.
import { execFileSync } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec } from '../../cli/test/engine';
import type { Result } from '../../cli/test/engine';
import { CI_PROFILES, standinBin } from '../support/ci-providers';
import type { CiProfile, OtherCi } from '../support/ci-providers';
import type { LocalIssuer } from '../support/issuer';
import { freePort } from '../support/ports';
import { releaseInto } from '../support/release';
import { ROOT } from '../support/runner';
import { mintedSecretsIn } from '../support/secrets';
import { startStack } from '../support/stack';
import type { Stack } from '../support/stack';
import { runSteps } from './scenarios';
import { DEMO, pruneBuilder, registryDigest } from './world';

const CIS = ['circleci', 'gitlab', 'buildkite'] as const;
const PROFILES = Object.fromEntries(CIS.map((ci) => [ci, CI_PROFILES[ci]()])) as Record<OtherCi, CiProfile>;
const PROJECT: Record<OtherCi, string> = {
  circleci: 'circle-web',
  gitlab: 'gitlab-web',
  buildkite: 'buildkite-web',
};
/** What a build of each CI is refused for: a job whose claims no rule of its project accepts. */
const REFUSED_CLAIMS: Record<OtherCi, Record<string, unknown>> = {
  circleci: { 'oidc.circleci.com/vcs-ref': 'refs/heads/feature' },
  gitlab: { ref: 'feature', ref_path: 'refs/heads/feature', ref_protected: 'false' },
  buildkite: { pipeline_slug: 'web-experiments' },
};
const run = Date.now().toString(36);

/** The broker's projects: one per CI, its rule pinning what the provider requires (oidc-broker/src/providers). */
function projectsYaml(): string {
  const circle = PROFILES.circleci.issuer.defaults;
  const buildkite = PROFILES.buildkite.issuer.optional ?? {};
  return `
- id: ${PROJECT.circleci}
  rules:
    - id: circleci-main
      provider: circleci
      project_id: "${String(circle['oidc.circleci.com/project-id'])}"
      vcs_origin: github.com/acme/web
      vcs_ref: refs/heads/main
- id: ${PROJECT.gitlab}
  rules:
    - id: gitlab-main
      provider: gitlab
      project_id: "${String(PROFILES.gitlab.issuer.defaults.project_id)}"
      ref_protected: "true"
      ref: main
- id: ${PROJECT.buildkite}
  rules:
    - id: buildkite-main
      provider: buildkite
      organization_slug: acme
      pipeline_slug: web
      pipeline_id: "${String(buildkite.pipeline_id)}"
`;
}

let stack: Stack;
let releaseDir: string;
let depotBin: string;
let toolBin: string;
const temps: string[] = [];

beforeAll(async () => {
  releaseDir = mkdtempSync(join(tmpdir(), 'depot-release-'));
  releaseInto(releaseDir);
  const { latest } = JSON.parse(readFileSync(join(releaseDir, 'manifest.json'), 'utf8')) as {
    latest: string;
  };
  const name = `depot-${latest}-linux-${process.arch === 'arm64' ? 'arm64' : 'x64'}`;
  execFileSync('tar', ['xzf', join(releaseDir, `${name}.tar.gz`), '-C', releaseDir]);
  depotBin = join(releaseDir, name, 'bin', 'depot');
  toolBin = standinBin(['circleci', 'buildkite-agent']);
  stack = await startStack({
    projects: projectsYaml(),
    issuers: Object.fromEntries(CIS.map((ci) => [ci, { options: PROFILES[ci].issuer }])),
  });
});
afterAll(async () => {
  await stack?.stop();
  for (const dir of [releaseDir, toolBin, ...temps]) if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One CI job: its env, the file its token tool records calls in, and everything its commands printed. */
interface Job {
  ci: OtherCi;
  env: NodeJS.ProcessEnv;
  record: string;
  outputs: string[];
}

/** Variables of the machine running the tests that would tell depot it is in some CI, or give it a token. */
const FOREIGN =
  /^(CI|CIRCLECI|GITLAB_CI|BUILDKITE|GITHUB_ACTIONS)$|^(DEPOT_|GITHUB_|ACTIONS_|RUNNER_|CIRCLE_|CI_|BUILDKITE_)/;

async function newJob(
  ci: OtherCi,
  opts: { fork?: boolean; claims?: Record<string, unknown>; env?: Record<string, string> } = {},
): Promise<Job> {
  const profile = PROFILES[ci];
  const dir = mkdtempSync(join(tmpdir(), `depot-${ci}-job-`));
  temps.push(dir);
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !FOREIGN.test(k)));
  const env: NodeJS.ProcessEnv = {
    ...base,
    PATH: `${toolBin}:${process.env.PATH ?? ''}`,
    BUILDKIT_PROGRESS: 'plain',
    ...profile.env,
    ...(opts.fork ? profile.forkEnv : {}),
    DEPOT_BROKER_URL: stack.brokerUrl,
    DEPOT_CACHE_DIR: join(dir, 'cache'),
    STANDIN_OIDC_URL: issuer(ci).mintUrl,
    STANDIN_OIDC_AUTH: issuer(ci).mintToken,
    STANDIN_RECORD: join(dir, 'calls.jsonl'),
  };
  // A new job: a job id of its own (the project token is kept per job).
  if (ci === 'circleci') env.CIRCLE_WORKFLOW_JOB_ID = randomUUID();
  if (ci === 'buildkite') {
    env.BUILDKITE_JOB_ID = randomUUID();
    env.DEPOT_BUILDKITE_CLAIMS = 'organization_id,pipeline_id';
  }
  if (ci === 'gitlab') {
    env.CI_JOB_ID = String(randomInt(1_000_000, 9_999_999));
    // The job's `id_tokens: DEPOT_OIDC_TOKEN: aud: <broker>` (the issuer's default aud is the broker's URL).
    env.DEPOT_OIDC_TOKEN = await issuer(ci).mint({ job_id: env.CI_JOB_ID, ...opts.claims });
  }
  return { ci, env: { ...env, ...opts.env }, record: env.STANDIN_RECORD as string, outputs: [] };
}

function issuer(ci: OtherCi): LocalIssuer {
  return stack.issuers[ci] as LocalIssuer;
}

function repo(ci: OtherCi): string {
  return `ci/${ci}`;
}

/** `depot build` of the demo app, pushed to the plain registry as ci/<ci>:<tag>. */
async function build(job: Job, tag: string, bust: string): Promise<Result> {
  const args = ['build', '--platform', 'linux/amd64', '--build-arg', `BUST=${bust}`];
  args.push('-t', `127.0.0.1:5000/${repo(job.ci)}:${tag}`, '--push', join(DEMO, 'app'));
  const r = await exec(depotBin, args, { env: job.env, cwd: ROOT });
  job.outputs.push(r.stdout, r.stderr);
  return r;
}

const all = (r: Result): string => `${r.stdout}${r.stderr}`;

/** The calls the job's token tool stand-in recorded. */
function toolCalls(job: Job): Array<{ tool: string; args: string[] }> {
  if (!existsSync(job.record)) return [];
  return readFileSync(job.record, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { tool: string; args: string[] });
}

interface AuditRow {
  kind?: string;
  provider?: string;
  outcome?: string;
  requestId?: string;
  project?: string;
  rule?: string;
  repository?: string;
}

/** The broker's audit rows (`npm run broker -- audit`), optionally of one request. */
function audit(requestId?: string): AuditRow[] {
  const r = stack.brokerCli([
    'audit',
    '--data-dir',
    stack.dataDir,
    ...(requestId !== undefined ? ['--request', requestId] : []),
  ]);
  if (r.status !== 0) throw new Error(`broker audit failed: ${r.stderr}`);
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditRow);
}

const exchanges = (ci: OtherCi): AuditRow[] =>
  audit().filter((row) => row.kind === 'exchange' && row.provider === ci);

/** No CI token nor project token (nor its registry password) in what the job printed, or its tool recorded. */
function expectNoLeaks(job: Job): void {
  const recorded = existsSync(job.record) ? readFileSync(job.record, 'utf8') : '';
  expect(mintedSecretsIn(job.outputs.join('\n') + recorded)).toEqual([]);
}

describe.each(CIS)('%s', (ci) => {
  const project = PROJECT[ci];
  const bust = `${ci}-${run}`;

  it('builds and pushes, then a rebuild on a pruned builder takes its steps from the project cache; one exchange for the job', async () => {
    const job = await newJob(ci);
    const before = exchanges(ci).length;
    const registryBefore = stack.registryLog().length;
    const cold = await build(job, `cold-${run}`, bust);
    expect(cold.code, all(cold)).toBe(0);
    expect(await registryDigest(repo(ci), `cold-${run}`)).toMatch(/^sha256:/);
    expect(all(cold)).toContain('exporting cache');
    const written = stack
      .registryLog()
      .slice(registryBefore)
      .split('\n')
      .filter((l) => new RegExp(`"(PUT|POST|PATCH) /v2/cache/${project}/`).test(l));
    expect(written.length, `cache/${project} written`).toBeGreaterThan(0);

    pruneBuilder();
    const warm = await build(job, `warm-${run}`, bust);
    expect(warm.code, all(warm)).toBe(0);
    expect(all(warm)).toContain(`importing cache manifest from ${stack.registryHost}/cache/${project}`);
    expect(runSteps(all(warm)), all(warm)).toEqual({ cached: 2, run: 0 });
    expect(await registryDigest(repo(ci), `warm-${run}`)).toMatch(/^sha256:/);

    // One exchange served both builds of the job (the project token kept in DEPOT_CACHE_DIR for its job id).
    const rows = exchanges(ci).slice(before);
    expect(rows).toEqual([expect.objectContaining({ outcome: 'ok', project, rule: `${ci}-main` })]);
    if (ci === 'circleci') {
      const aud = JSON.stringify({ aud: stack.brokerUrl });
      expect(toolCalls(job)).toEqual([
        {
          tool: 'circleci',
          args: ['run', 'oidc', 'get', '--claims', aud],
          at: expect.any(Number) as unknown,
        },
      ]);
    }
    if (ci === 'buildkite') {
      expect(toolCalls(job)).toEqual([
        {
          tool: 'buildkite-agent',
          args: [
            'oidc',
            'request-token',
            '--audience',
            stack.brokerUrl,
            '--claim',
            'organization_id,pipeline_id',
          ],
          at: expect.any(Number) as unknown,
        },
      ]);
    }
    // One project token kept for the job (one exchange), and one answer of the builder probe (asked once).
    const kept = readdirSync(job.env.DEPOT_CACHE_DIR as string);
    expect(kept.filter((f) => !/^builder-[0-9a-f]{64}\.json$/.test(f))).toHaveLength(1);
    expect(kept.filter((f) => /^builder-[0-9a-f]{64}\.json$/.test(f))).toHaveLength(1);
    expectNoLeaks(job);
  });

  it('a build from a fork makes no exchange and builds without the project cache', async () => {
    const job = await newJob(ci, { fork: true });
    const before = exchanges(ci).length;
    const registryBefore = stack.registryLog().length;
    pruneBuilder();
    // The same BUST as the trusted job's: had it read the project cache, every RUN step would be CACHED.
    const r = await build(job, `fork-${run}`, bust);
    expect(r.code, all(r)).toBe(0);
    expect(await registryDigest(repo(ci), `fork-${run}`)).toMatch(/^sha256:/);
    expect(r.stderr).toMatch(/fork|another repository/);
    expect(all(r)).not.toMatch(/importing cache manifest from|exporting cache to/);
    expect(runSteps(all(r)), all(r)).toEqual({ cached: 0, run: 2 });
    expect(toolCalls(job)).toEqual([]);
    expect(exchanges(ci).slice(before)).toEqual([]);
    expect(stack.registryLog().slice(registryBefore)).not.toContain(`/v2/cache/`);
    expect(
      existsSync(job.env.DEPOT_CACHE_DIR as string) ? readdirSync(job.env.DEPOT_CACHE_DIR as string) : [],
    ).toEqual([]);
    expectNoLeaks(job);
  });

  it('a job no rule accepts fails with the broker code and a request id, and pushes nothing', async () => {
    const claims = REFUSED_CLAIMS[ci];
    const saved = { ...issuer(ci).defaults };
    // The CI's token tool mints from the issuer's defaults: this job's claims are the refused ones.
    Object.assign(issuer(ci).defaults, claims);
    try {
      const job = await newJob(ci, { claims });
      const r = await build(job, `refused-${run}`, bust);
      expect(r.code, all(r)).toBe(1);
      expect(r.stderr).toContain('no_trust_relationship');
      const id = /request id:? ([A-Za-z0-9_-]{6,})/.exec(r.stderr)?.[1];
      expect(id, r.stderr).toBeDefined();
      expect(r.stderr).not.toMatch(/^#\d+ /m);
      expect(await registryDigest(repo(ci), `refused-${run}`)).toBeUndefined();
      // The operator finds the refusal under that request id.
      expect(audit(id)).toEqual([
        expect.objectContaining({
          kind: 'exchange',
          provider: ci,
          outcome: 'no_trust_relationship',
          requestId: id,
        }),
      ]);
      expectNoLeaks(job);
    } finally {
      for (const k of Object.keys(issuer(ci).defaults)) delete issuer(ci).defaults[k];
      Object.assign(issuer(ci).defaults, saved);
    }
  });

  it('exits 69 when the broker cannot be reached, before any build', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const job = await newJob(ci, { env: { DEPOT_BROKER_URL: down } });
    const r = await build(job, `down-${run}`, bust);
    expect(r.code, all(r)).toBe(69);
    expect(r.stderr).toContain(down);
    expect(r.stderr).not.toMatch(/^#\d+ /m);
    expect(await registryDigest(repo(ci), `down-${run}`)).toBeUndefined();
    expectNoLeaks(job);
  });
});
