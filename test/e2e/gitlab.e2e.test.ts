// The GitLab CI/CD component, end to end (issue 22): examples/gitlab/.gitlab-ci.yml, expanded by gitlab-ci-local
// 4.73.0 `--preview` with the component's template (test/support/gitlab-runner.ts), runs its job's script lines in
// bash on this Debian machine, after the image's `apk add nodejs` line (the release's bin/depot runs its bundled
// Node here), with GitLab's job environment (CI_*, GITLAB_CI=true, a CI_JOB_ID of its own, DEPOT_OIDC_TOKEN minted
// by a local GitLab issuer with the `aud` the job's id_tokens expand to). The install step downloads the CLI release
// served over HTTP and checks its SHA-256; the CLI exchanges the token at the real broker and builds with the real
// BuildKit, pushing to the plain registry with the project cache in the token-auth registry. A push, then a rebuild
// whose every RUN step comes from the project cache; a fork's merge request builds without the cache; a refused job
// fails with the broker's code; a tampered tarball fails the install step; the broker down is exit 69, or a plain
// buildx build with `buildx-fallback: true`.
import { randomInt } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Result } from '../../cli/test/engine';
import { gitlabProfile } from '../support/ci-providers';
import { expandVariables, previewJob, runJob } from '../support/gitlab-runner';
import type { LocalIssuer } from '../support/issuer';
import { freePort } from '../support/ports';
import { releaseInto } from '../support/release';
import { mintedSecretsIn } from '../support/secrets';
import { startStack } from '../support/stack';
import type { Stack } from '../support/stack';
import { serveFolder } from '../support/static-server';
import type { StubServer } from '../support/stub-server';
import { runSteps } from './scenarios';
import { DEMO, pruneBuilder, registryDigest } from './world';

const PROFILE = gitlabProfile();
const PROJECT = 'gitlab-component';
const REPO = 'ci/gitlab-component';
const run = Date.now().toString(36);

let stack: Stack;
let release: StubServer;
let tampered: StubServer;
const temps: string[] = [];

beforeAll(async () => {
  const releaseDir = mkdtempSync(join(tmpdir(), 'depot-release-'));
  const tamperedDir = mkdtempSync(join(tmpdir(), 'depot-release-tampered-'));
  temps.push(releaseDir, tamperedDir);
  releaseInto(releaseDir);
  releaseInto(tamperedDir);
  const { latest } = JSON.parse(readFileSync(join(tamperedDir, 'manifest.json'), 'utf8')) as {
    latest: string;
  };
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
  appendFileSync(join(tamperedDir, `depot-${latest}-linux-${arch}.tar.gz`), 'tampered');
  release = await serveFolder(releaseDir);
  tampered = await serveFolder(tamperedDir);
  stack = await startStack({
    projects: `
- id: ${PROJECT}
  rules:
    - id: gitlab-main
      provider: gitlab
      project_id: "${String(PROFILE.issuer.defaults.project_id)}"
      ref_protected: "true"
      ref: main
`,
    issuers: { gitlab: { options: PROFILE.issuer } },
  });
});
afterAll(async () => {
  await stack?.stop();
  await release?.close();
  await tampered?.close();
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** Variables of this machine that would tell depot it is in some CI, or give it a token. */
const FOREIGN =
  /^(CI|CIRCLECI|GITLAB_CI|BUILDKITE|GITHUB_ACTIONS)$|^(DEPOT_|GITHUB_|ACTIONS_|RUNNER_|CIRCLE_|CI_|BUILDKITE_)/;

interface JobOptions {
  inputs?: Record<string, unknown>;
  fork?: boolean;
  claims?: Record<string, unknown>;
  brokerUrl?: string;
}

/** One pipeline's job: the example previewed with these inputs, its script run with GitLab's env. */
async function gitlabJob(tag: string, opts: JobOptions = {}): Promise<Result & { project: string }> {
  const inputs = {
    tags: `127.0.0.1:5000/${REPO}:${tag}`,
    platforms: 'linux/amd64',
    push: true,
    'build-args': `BUST=gitlab-${run}\n`,
    context: join(DEMO, 'app'),
    'manifest-url': `${release.url}/manifest.json`,
    ...opts.inputs,
  };
  const { project, variables, job } = previewJob(inputs, {
    DEPOT_BROKER_URL: opts.brokerUrl ?? stack.brokerUrl,
  });
  temps.push(project);
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !FOREIGN.test(k)));
  const jobId = String(randomInt(1_000_000, 9_999_999));
  const env: NodeJS.ProcessEnv = {
    ...base,
    BUILDKIT_PROGRESS: 'plain',
    ...PROFILE.env,
    ...(opts.fork ? PROFILE.forkEnv : {}),
    CI_JOB_ID: jobId,
    CI_COMMIT_SHORT_SHA: String(PROFILE.env.CI_COMMIT_SHA).slice(0, 8),
    TMPDIR: project,
    XDG_CACHE_HOME: join(project, '.cache'),
  };
  // id_tokens: the token GitLab hands the job, for the audience its `aud:` expands to.
  const aud = expandVariables(job.id_tokens.DEPOT_OIDC_TOKEN?.aud ?? '', { ...env, ...variables });
  env.DEPOT_OIDC_TOKEN = await issuer().mint({ aud, job_id: jobId, ...opts.claims });
  const r = await runJob(job, project, env, variables);
  return { ...r, project };
}

function issuer(): LocalIssuer {
  return stack.issuers.gitlab as LocalIssuer;
}

const all = (r: Result): string => `${r.stdout}${r.stderr}`;

function expectNoLeaks(r: Result): void {
  expect(mintedSecretsIn(all(r))).toEqual([]);
}

describe('the GitLab component job', () => {
  it('installs the CLI, builds and pushes; a rebuild on a pruned builder takes every RUN step from the project cache', async () => {
    const cold = await gitlabJob(`cold-${run}`);
    expect(cold.code, all(cold)).toBe(0);
    expect(all(cold)).toMatch(/depot \S+ installed: /);
    expect(all(cold)).toContain('exporting cache');
    expect(await registryDigest(REPO, `cold-${run}`)).toMatch(/^sha256:/);
    expectNoLeaks(cold);

    pruneBuilder();
    const warm = await gitlabJob(`warm-${run}`);
    expect(warm.code, all(warm)).toBe(0);
    expect(all(warm)).toContain(`importing cache manifest from ${stack.registryHost}/cache/${PROJECT}`);
    expect(runSteps(all(warm)), all(warm)).toEqual({ cached: 2, run: 0 });
    expect(await registryDigest(REPO, `warm-${run}`)).toMatch(/^sha256:/);
    expectNoLeaks(warm);
  });

  it("a fork's merge request builds without the project cache", async () => {
    pruneBuilder();
    const r = await gitlabJob(`fork-${run}`, { fork: true });
    expect(r.code, all(r)).toBe(0);
    expect(r.stderr).toMatch(/fork/);
    expect(all(r)).not.toMatch(/importing cache manifest from|exporting cache to/);
    expect(runSteps(all(r)), all(r)).toEqual({ cached: 0, run: 2 });
    expect(await registryDigest(REPO, `fork-${run}`)).toMatch(/^sha256:/);
    expectNoLeaks(r);
  });

  it('a job no rule accepts fails with the broker code and a request id, and pushes nothing', async () => {
    const r = await gitlabJob(`refused-${run}`, {
      claims: { ref: 'feature', ref_path: 'refs/heads/feature', ref_protected: 'false' },
    });
    expect(r.code, all(r)).toBe(1);
    expect(r.stderr).toContain('no_trust_relationship');
    expect(r.stderr).toMatch(/request id:? [A-Za-z0-9_-]{6,}/);
    expect(await registryDigest(REPO, `refused-${run}`)).toBeUndefined();
    expectNoLeaks(r);
  });

  it('a tampered tarball fails the install step: nothing installed, nothing built', async () => {
    const r = await gitlabJob(`tampered-${run}`, {
      inputs: { 'manifest-url': `${tampered.url}/manifest.json` },
    });
    expect(r.code, all(r)).toBe(1);
    expect(r.stderr).toMatch(
      /has SHA-256 [0-9a-f]{64}, but the manifest says [0-9a-f]{64}: nothing was installed/,
    );
    expect(existsSync(join(r.project, '.depot', 'bin', 'depot'))).toBe(false);
    expect(await registryDigest(REPO, `tampered-${run}`)).toBeUndefined();
  });

  it('the broker down fails the job with exit 69', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const r = await gitlabJob(`down-${run}`, { brokerUrl: down });
    expect(r.code, all(r)).toBe(69);
    expect(r.stderr).toContain(down);
    expect(await registryDigest(REPO, `down-${run}`)).toBeUndefined();
  });

  it('the broker down with buildx-fallback: true builds with plain docker buildx and pushes', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const r = await gitlabJob(`fallback-${run}`, { brokerUrl: down, inputs: { 'buildx-fallback': true } });
    expect(r.code, all(r)).toBe(0);
    expect(all(r)).toContain('buildx-fallback: building with docker buildx, no project cache');
    expect(all(r)).not.toMatch(/importing cache manifest from|exporting cache to/);
    expect(await registryDigest(REPO, `fallback-${run}`)).toMatch(/^sha256:/);
  });
});
