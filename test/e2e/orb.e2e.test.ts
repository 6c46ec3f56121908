// The CircleCI orb end to end (issue 22): test/support/circleci-runner.ts runs the packed orb's command steps of
// examples/circleci/config.yml's job as CircleCI's machine executor would (bash, one BASH_ENV, CircleCI's variables
// incl. CIRCLE_OIDC_TOKEN_V2 and CIRCLE_WORKFLOW_JOB_ID, the `circleci` stand-in on PATH), against the CLI release
// served over HTTP, the real broker (a CircleCI issuer, a project whose rule pins project_id + vcs_origin + vcs_ref),
// BuildKit and the registries: a push, then a rebuild on a pruned builder from the project cache; a forked pull
// request builds uncached; a refused job fails with the broker's code; a tampered tarball is refused by the install
// step; the broker down exits 69, or builds with a plain buildx when buildx_fallback is true.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { circleciProfile, standinBin } from '../support/ci-providers';
import { orbJobSteps, runOrbJob } from '../support/circleci-runner';
import type { JobResult } from '../support/circleci-runner';
import type { LocalIssuer } from '../support/issuer';
import { freePort } from '../support/ports';
import { releaseInto } from '../support/release';
import { ROOT } from '../support/runner';
import { startStack } from '../support/stack';
import type { Stack } from '../support/stack';
import { serveFolder } from '../support/static-server';
import type { StubServer } from '../support/stub-server';
import { runSteps } from './scenarios';
import { pruneBuilder, registryDigest } from './world';

const CONFIG = join(ROOT, 'examples', 'circleci', 'config.yml');
const ORB = join(ROOT, 'integrations', 'circleci', 'dist', 'orb.yml');
const PROFILE = circleciProfile();
const PROJECT = 'orb-web';
const REPO = 'ci/orb';
const run = Date.now().toString(36);
const bust = `orb-${run}`;

let stack: Stack;
let release: StubServer;
let tampered: StubServer;
let toolBin: string;
const temps: string[] = [];

const FOREIGN =
  /^(CI|CIRCLECI|GITLAB_CI|BUILDKITE|GITHUB_ACTIONS)$|^(DEPOT_|GITHUB_|ACTIONS_|RUNNER_|CIRCLE_|CI_|BUILDKITE_)/;

function temp(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

beforeAll(async () => {
  const dir = temp('orb-release-');
  releaseInto(dir);
  release = await serveFolder(dir);
  const bad = temp('orb-release-tampered-');
  releaseInto(bad);
  for (const name of readdirSync(bad).filter((n) => n.endsWith('.tar.gz'))) {
    const bytes = readFileSync(join(bad, name));
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    writeFileSync(join(bad, name), bytes);
  }
  tampered = await serveFolder(bad);
  toolBin = standinBin(['circleci']);
  stack = await startStack({
    projects: `
- id: ${PROJECT}
  rules:
    - id: circleci-main
      provider: circleci
      project_id: "${String(PROFILE.issuer.defaults['oidc.circleci.com/project-id'])}"
      vcs_origin: github.com/acme/web
      vcs_ref: refs/heads/main
`,
    issuers: { circleci: { options: PROFILE.issuer } },
  });
});
afterAll(async () => {
  await stack?.stop();
  await release?.close();
  await tampered?.close();
  for (const dir of [toolBin, ...temps]) if (dir) rmSync(dir, { recursive: true, force: true });
});

function issuer(): LocalIssuer {
  return stack.issuers.circleci as LocalIssuer;
}

interface JobOptions {
  fork?: boolean;
  manifest?: string;
  broker?: string;
  fallback?: boolean;
  /** A job of a project without OpenID Connect (no context): no CIRCLE_OIDC_TOKEN_V2. */
  noOidc?: boolean;
}

/** examples/circleci/config.yml's job `image`, pointed at the test's release, broker and registry. */
async function job(tag: string, opts: JobOptions = {}): Promise<JobResult> {
  const dir = temp('orb-job-');
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !FOREIGN.test(k)));
  const env: NodeJS.ProcessEnv = {
    ...base,
    PATH: `${toolBin}:${process.env.PATH ?? ''}`,
    BUILDKIT_PROGRESS: 'plain',
    ...PROFILE.env,
    ...(opts.fork ? PROFILE.forkEnv : {}),
    CIRCLE_WORKFLOW_JOB_ID: randomUUID(),
    DEPOT_CACHE_DIR: join(dir, 'cache'),
    STANDIN_OIDC_URL: issuer().mintUrl,
    STANDIN_OIDC_AUTH: issuer().mintToken,
  };
  // CircleCI sets the job's OIDC token when the project has OpenID Connect (a context); forks get none.
  if (!opts.fork && !opts.noOidc) env.CIRCLE_OIDC_TOKEN_V2 = await issuer().mint({});
  const steps = orbJobSteps(CONFIG, ORB, 'image', {
    install: {
      manifest_url: opts.manifest ?? `${release.url}/manifest.json`,
      install_dir: join(dir, 'depot'),
    },
    build: {
      tags: `127.0.0.1:5000/${REPO}:${tag}`,
      platforms: 'linux/amd64',
      build_args: `BUST=${bust}`,
      broker_url: opts.broker ?? stack.brokerUrl,
      buildx_fallback: opts.fallback ?? false,
    },
  });
  return runOrbJob(steps, env, ROOT);
}

describe('the CircleCI orb (examples/circleci/config.yml)', () => {
  it('installs the CLI, builds and pushes; a rebuild on a pruned builder imports the project cache', async () => {
    const cold = await job(`cold-${run}`);
    expect(cold.code, cold.output).toBe(0);
    expect(cold.steps.map((s) => s.name)).toEqual([
      'Install the depot CLI',
      'Put depot on PATH',
      'depot build',
    ]);
    expect(await registryDigest(REPO, `cold-${run}`)).toMatch(/^sha256:/);
    expect(cold.output).toContain('exporting cache');

    pruneBuilder();
    const warm = await job(`warm-${run}`);
    expect(warm.code, warm.output).toBe(0);
    expect(warm.output).toContain(`importing cache manifest from ${stack.registryHost}/cache/${PROJECT}`);
    expect(runSteps(warm.output), warm.output).toEqual({ cached: 2, run: 0 });
  });

  it('a forked pull request builds without the project cache', async () => {
    pruneBuilder();
    const r = await job(`fork-${run}`, { fork: true });
    expect(r.code, r.output).toBe(0);
    expect(r.output).not.toMatch(/importing cache manifest from|exporting cache to/);
    expect(runSteps(r.output), r.output).toEqual({ cached: 0, run: 2 });
  });

  it('a job no rule accepts fails with the broker code', async () => {
    const saved = { ...issuer().defaults };
    Object.assign(issuer().defaults, { 'oidc.circleci.com/vcs-ref': 'refs/heads/feature' });
    try {
      const r = await job(`refused-${run}`);
      expect(r.code, r.output).toBe(1);
      expect(r.steps.at(-1)?.name).toBe('depot build');
      expect(r.output).toContain('no_trust_relationship');
      expect(await registryDigest(REPO, `refused-${run}`)).toBeUndefined();
    } finally {
      for (const k of Object.keys(issuer().defaults)) delete issuer().defaults[k];
      Object.assign(issuer().defaults, saved);
    }
  });

  it('the install step refuses a tampered tarball', async () => {
    const r = await job(`tampered-${run}`, { manifest: `${tampered.url}/manifest.json` });
    expect(r.code, r.output).toBe(1);
    expect(r.steps.map((s) => s.name)).toEqual(['Install the depot CLI']);
    expect(r.output).toMatch(/SHA-256 .* but the manifest says .*nothing was installed/);
  });

  it('the broker down: exit 69, or a plain buildx build with buildx_fallback', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const r = await job(`down-${run}`, { broker: down });
    expect(r.code, r.output).toBe(69);
    expect(r.output).not.toContain('has no OIDC token');
    expect(await registryDigest(REPO, `down-${run}`)).toBeUndefined();

    const f = await job(`fallback-${run}`, { broker: down, fallback: true });
    expect(f.code, f.output).toBe(0);
    expect(f.output).toContain('building with docker buildx build');
    expect(await registryDigest(REPO, `fallback-${run}`)).toMatch(/^sha256:/);
  });

  it('a job without OIDC (no context) says so in one line', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const r = await job(`no-oidc-${run}`, { broker: down, noOidc: true });
    expect(r.output.split('\n').filter((l) => l.includes('has no OIDC token'))).toEqual([
      expect.stringContaining('enable OpenID Connect for the project or run the job with a context'),
    ]);
  });
});
