// The GitHub stand-in against the real @actions/artifact 6.x, run as a step of the runner harness (a child process
// with the runner's env, so nothing of this process leaks in), and its REST API as the broker reads it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGithub } from './github-api';
import type { GithubStandIn, Run } from './github-api';
import { getGithubContext } from '../../shared/github';
import { forkPullRequestPayload, Job, ROOT } from './runner';

let github: GithubStandIn;
let job: Job | undefined;

beforeAll(async () => {
  github = await startGithub();
});
afterAll(async () => {
  await github?.close();
});
afterEach(() => {
  job?.cleanup();
  job = undefined;
  github.api.faults.clear();
  github.artifacts.faults.clear();
});

let nextRun = 90_000;
function forkRun(): Run {
  return github.addRun({
    repository: 'acme/web',
    runId: nextRun++,
    attempt: 1,
    event: 'pull_request',
    status: 'in_progress',
    headRepository: 'mallory/web',
    headSha: 'a'.repeat(40),
    private: false,
    pullRequest: 12,
  });
}

/** Runs uploadArtifact('<name>', [claim.txt], dir, {retentionDays: 1}) as a job step of `run`. */
async function upload(run: Run, name: string) {
  job = new Job({
    repository: run.repository,
    actionsRuntime: {
      resultsUrl: github.artifacts.url,
      runtimeToken: run.runtimeToken,
      runId: run.runId,
      runAttempt: run.attempt,
    },
  });
  const dir = join(job.temp, 'claim');
  const script = join(job.root, 'upload.mjs');
  writeFileSync(
    script,
    [
      "import { mkdirSync, writeFileSync } from 'node:fs';",
      "import { DefaultArtifactClient } from '@actions/artifact';",
      'const [dir, name] = process.argv.slice(2);',
      'mkdirSync(dir, { recursive: true });',
      "writeFileSync(`${dir}/claim.txt`, 'claimed by this run\\n');",
      'const r = await new DefaultArtifactClient().uploadArtifact(name, [`${dir}/claim.txt`], dir, { retentionDays: 1 });',
      'console.log(`uploaded id=${r.id} size=${r.size}`);',
    ].join('\n'),
  );
  // Resolved from the repository (its node_modules), as a bundle carries its own copy.
  const started = Date.now();
  const step = await job.run(`node --input-type=module - "${dir}" "${name}" < "${script}"`, { cwd: ROOT });
  return { step, ms: Date.now() - started };
}

async function api(path: string, auth = `token ${github.api.token}`) {
  const res = await fetch(`${github.api.url}${path}`, {
    headers: { accept: 'application/vnd.github+json', ...(auth !== '' ? { authorization: auth } : {}) },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('the artifact service, with the real @actions/artifact', () => {
  it('stores an upload for the run its runtime token names, and the REST API lists it for that run', async () => {
    const run = forkRun();
    const other = forkRun();
    const { step } = await upload(run, 'depot-claim-x');
    expect(step.exitCode, `${step.stdout}\n${step.stderr}`).toBe(0);
    const id = /uploaded id=(\d+) size=(\d+)/.exec(step.stdout);
    expect(id).not.toBeNull();

    // Twirp calls at the root of ACTIONS_RESULTS_URL, then the Azure block upload to the signed URL.
    const calls = github.artifacts.requests.map((r) =>
      r.replace(/\/[0-9a-f-]{36}\/[0-9a-f-]{36}\//, '/<ids>/'),
    );
    expect(calls).toEqual([
      'POST /twirp/github.actions.results.api.v1.ArtifactService/CreateArtifact',
      'PUT /actionsresults/actions-results/<ids>/depot-claim-x.zip',
      'PUT /actionsresults/actions-results/<ids>/depot-claim-x.zip',
      'POST /twirp/github.actions.results.api.v1.ArtifactService/FinalizeArtifact',
    ]);

    const listed = await api(`/repos/acme/web/actions/runs/${run.runId}/artifacts?name=depot-claim-x`);
    expect(listed.status).toBe(200);
    expect(listed.body.total_count).toBe(1);
    const [artifact] = listed.body.artifacts as Array<Record<string, unknown>>;
    expect(artifact).toMatchObject({
      id: Number(id?.[1]),
      name: 'depot-claim-x',
      size_in_bytes: Number(id?.[2]),
      expired: false,
      workflow_run: { id: run.runId, head_sha: run.headSha, head_repository_id: run.headRepositoryId },
    });
    expect(Date.parse(String(artifact?.expires_at)) - Date.now()).toBeLessThan(86_400_000 + 60_000);
    // What was stored is the zip @actions/artifact streamed, with the file in it.
    const stored = github.runs.artifactsOf('acme/web', run.runId)[0];
    expect(stored?.content.subarray(0, 2).toString()).toBe('PK');
    expect(stored?.content.toString('latin1')).toContain('claim.txt');
    expect(artifact?.digest).toBe(stored?.digest);

    // Another run lists nothing; an unknown name lists nothing.
    expect((await api(`/repos/acme/web/actions/runs/${other.runId}/artifacts`)).body).toEqual({
      total_count: 0,
      artifacts: [],
    });
    expect(
      (await api(`/repos/acme/web/actions/runs/${run.runId}/artifacts?name=depot-claim-y`)).body.total_count,
    ).toBe(0);
    // The runtime token is masked as the runner masks it, and never printed.
    expect(job?.leakedSecrets()).toEqual([]);
  });

  it.each([
    ['CreateArtifact', 403],
    ['FinalizeArtifact', 404],
    ['UploadBlock', 403],
  ])('an injected %s %i fails the upload at once, and nothing is listed', async (operation, status) => {
    const run = forkRun();
    github.artifacts.faults.failNext(operation, status);
    const { step, ms } = await upload(run, 'depot-claim-x');
    expect(step.exitCode).not.toBe(0);
    expect(`${step.stdout}${step.stderr}`).toMatch(
      operation === 'UploadBlock' ? /InjectedFailure|injected/ : new RegExp(`Failed to ${operation}`),
    );
    expect(ms).toBeLessThan(10_000);
    const listed = await api(`/repos/acme/web/actions/runs/${run.runId}/artifacts`);
    expect(listed.body.total_count).toBe(0);
  });

  it('refuses a runtime token that names no run of the model', async () => {
    const run = forkRun();
    const stranger = { ...run, runtimeToken: run.runtimeToken.replace(/\.[^.]+$/, '.forged') };
    const { step, ms } = await upload(stranger, 'depot-claim-x');
    expect(step.exitCode).not.toBe(0);
    expect(step.stdout + step.stderr).toContain('(401)');
    expect(ms).toBeLessThan(10_000);
  });
});

describe('the REST API the broker asks', () => {
  it('serves a fork run attempt with the real shape: no pull requests, the fork as head repository', async () => {
    const run = forkRun();
    const { status, body } = await api(
      `/repos/acme/web/actions/runs/${run.runId}/attempts/1`,
      `Bearer ${github.api.token}`,
    );
    expect(status).toBe(200);
    expect(body).toMatchObject({
      id: run.runId,
      run_attempt: 1,
      event: 'pull_request',
      status: 'in_progress',
      head_sha: run.headSha,
      head_repository: { full_name: 'mallory/web', fork: true },
      repository: { full_name: 'acme/web', private: false, id: run.repositoryId },
      pull_requests: [],
    });
    expect(body).toHaveProperty('workflow_id');
    expect(body).toHaveProperty('check_suite_id');
  });

  it('serves the pull request with head and base repositories', async () => {
    const run = forkRun();
    const { status, body } = await api('/repos/ACME/web/pulls/12');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      number: 12,
      state: 'open',
      head: { sha: run.headSha, repo: { full_name: 'mallory/web', fork: true } },
      base: { repo: { full_name: 'acme/web' } },
    });
  });

  it.each([
    ['/repos/acme/web/actions/runs/1/attempts/1', 'actions/workflow-runs#get-a-workflow-run-attempt'],
    ['/repos/acme/web/pulls/999', 'pulls/pulls#get-a-pull-request'],
    ['/repos/acme/web/actions/runs/1/artifacts', 'actions/artifacts#list-workflow-run-artifacts'],
  ])('answers %s with GitHub’s JSON 404', async (path, doc) => {
    expect(await api(path)).toEqual({
      status: 404,
      body: { message: 'Not Found', documentation_url: `https://docs.github.com/rest/${doc}`, status: '404' },
    });
  });

  it('answers 401 Bad credentials without the broker’s token, and injected failures by operation', async () => {
    const run = forkRun();
    const path = `/repos/acme/web/actions/runs/${run.runId}/attempts/1`;
    expect((await api(path, '')).status).toBe(401);
    expect((await api(path, 'token ghs_wrong')).body.message).toBe('Bad credentials');
    github.api.faults.failNext('getRunAttempt', 403);
    expect(await api(path)).toMatchObject({
      status: 403,
      body: { message: 'Resource not accessible by integration' },
    });
    expect((await api(path)).status).toBe(200);
    expect(github.api.requests.filter((r) => r === `GET ${path}`)).toHaveLength(4);
  });
});

describe('a fork pull request job', () => {
  it('reads as an untrusted fork pull request, with the runner’s artifact env and no OIDC request URL', () => {
    const run = forkRun();
    job = new Job({
      repository: 'acme/web',
      event: {
        name: 'pull_request',
        payload: forkPullRequestPayload({
          repository: 'acme/web',
          fork: 'mallory/web',
          number: 12,
          headSha: run.headSha,
        }),
      },
      actionsRuntime: { resultsUrl: github.artifacts.url, runtimeToken: run.runtimeToken, runId: run.runId },
    });
    const env = job.baseEnv();
    expect(env).toMatchObject({
      ACTIONS_RESULTS_URL: github.artifacts.url,
      ACTIONS_RUNTIME_TOKEN: run.runtimeToken,
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_RUN_ID: String(run.runId),
    });
    expect(env.ACTIONS_ID_TOKEN_REQUEST_URL).toBeUndefined();
    expect(job.masks.has(run.runtimeToken)).toBe(true);
    const ctx = getGithubContext(env);
    expect(ctx).toMatchObject({
      eventName: 'pull_request',
      repository: 'acme/web',
      fromFork: true,
      untrustedForkPullRequest: true,
      pullRequestNumber: 12,
      headRepository: 'mallory/web',
      headSha: run.headSha,
      privateRepository: false,
    });
  });
});
