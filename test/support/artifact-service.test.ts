// The artifact service stand-in's download path against the real @actions/artifact 6.x, each job a step of the
// runner harness (a child process, async: the stand-in serves from this process): one job of a run uploads, another
// job of the same run attempt lists and downloads, as a matrix leg and a later gather job do.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGithub } from './github-api';
import type { GithubStandIn, Run } from './github-api';
import { Job, ROOT } from './runner';

let github: GithubStandIn;
const jobs: Job[] = [];

beforeAll(async () => {
  github = await startGithub();
});
afterAll(async () => {
  await github?.close();
});
afterEach(() => {
  for (const job of jobs.splice(0)) job.cleanup();
  github.artifacts.faults.clear();
});

let nextRun = 70_000;
const newRun = () => github.addRun({ repository: 'acme/mono', runId: nextRun++, event: 'push' });

/** Runs a module script with @actions/artifact as a job step of `run`; its last stdout line is JSON. */
async function step(run: Run, body: string[], args: string[] = []) {
  const job = new Job({
    repository: run.repository,
    actionsRuntime: {
      resultsUrl: github.artifacts.url,
      runtimeToken: run.runtimeToken,
      runId: run.runId,
      runAttempt: run.attempt,
    },
  });
  jobs.push(job);
  const script = join(job.root, 'step.mjs');
  writeFileSync(
    script,
    [
      "import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';",
      "import { DefaultArtifactClient } from '@actions/artifact';",
      'const client = new DefaultArtifactClient();',
      'const args = process.argv.slice(2);',
      ...body,
    ].join('\n'),
  );
  const quoted = args.map((a) => `"${a}"`).join(' ');
  const result = await job.run(`node --input-type=module - ${quoted} < "${script}"`, { cwd: ROOT });
  const last = result.stdout.trim().split('\n').pop() ?? '';
  return { result, job, json: result.exitCode === 0 ? (JSON.parse(last) as Record<string, unknown>) : {} };
}

const UPLOAD = [
  'const [name, text] = args;',
  'const dir = `${process.env.RUNNER_TEMP}/upload`;',
  'mkdirSync(dir, { recursive: true });',
  'writeFileSync(`${dir}/record.json`, text);',
  'const r = await client.uploadArtifact(name, [`${dir}/record.json`], dir, { retentionDays: 1 });',
  'console.log(JSON.stringify({ id: r.id }));',
];

const LIST_AND_DOWNLOAD = [
  'const dir = `${process.env.RUNNER_TEMP}/download`;',
  'const { artifacts } = await client.listArtifacts({ latest: true });',
  'const files = {};',
  'for (const a of artifacts) {',
  '  const path = `${dir}/${a.name}`;',
  '  await client.downloadArtifact(a.id, { path });',
  '  files[a.name] = Object.fromEntries(readdirSync(path).map((f) => [f, readFileSync(`${path}/${f}`, "utf8")]));',
  '}',
  'console.log(JSON.stringify({ names: artifacts.map((a) => a.name).sort(), files }));',
];

describe('artifact download, with the real @actions/artifact', () => {
  it('a later job of the same run lists and downloads what the legs uploaded; another run sees none', async () => {
    const run = newRun();
    const legA = github.runs.addJob(run);
    const legB = github.runs.addJob(run);
    const gather = github.runs.addJob(run);
    expect(new Set([legA, legB, gather].map((j) => j.backendRunId))).toEqual(new Set([run.backendRunId]));
    expect(new Set([legA, legB, gather].map((j) => j.backendJobId)).size).toBe(3);

    const a = await step(legA, UPLOAD, ['depot-monorepo-web', 'record of web']);
    expect(a.result.exitCode, a.result.stdout + a.result.stderr).toBe(0);
    const b = await step(legB, UPLOAD, ['depot-monorepo-worker', 'record of worker']);
    expect(b.result.exitCode, b.result.stdout + b.result.stderr).toBe(0);
    // A name is unique per run attempt, whichever job uploads it.
    const again = await step(legB, UPLOAD, ['depot-monorepo-web', 'again']);
    expect(again.result.exitCode).not.toBe(0);

    const before = github.artifacts.requests.length;
    const g = await step(gather, LIST_AND_DOWNLOAD);
    expect(g.result.exitCode, g.result.stdout + g.result.stderr).toBe(0);
    expect(g.json).toEqual({
      names: ['depot-monorepo-web', 'depot-monorepo-worker'],
      files: {
        'depot-monorepo-web': { 'record.json': 'record of web' },
        'depot-monorepo-worker': { 'record.json': 'record of worker' },
      },
    });
    const calls = github.artifacts.requests
      .slice(before)
      .map((r) => r.replace(/\/[0-9a-f-]{36}\/[0-9a-f-]{36}\//, '/<ids>/'));
    // listArtifacts({latest}) lists the newest first: worker's, then web's.
    expect(calls).toEqual([
      'POST /twirp/github.actions.results.api.v1.ArtifactService/ListArtifacts',
      'POST /twirp/github.actions.results.api.v1.ArtifactService/ListArtifacts',
      'POST /twirp/github.actions.results.api.v1.ArtifactService/GetSignedArtifactURL',
      'GET /actionsresults/actions-results/<ids>/depot-monorepo-worker.zip',
      'POST /twirp/github.actions.results.api.v1.ArtifactService/ListArtifacts',
      'POST /twirp/github.actions.results.api.v1.ArtifactService/GetSignedArtifactURL',
      'GET /actionsresults/actions-results/<ids>/depot-monorepo-web.zip',
    ]);
    expect(g.job.leakedSecrets()).toEqual([]);

    const other = await step(newRun(), LIST_AND_DOWNLOAD);
    expect(other.json).toEqual({ names: [], files: {} });
  });

  it('refuses a signed URL for another run, and a blob GET without a read signature', async () => {
    const run = newRun();
    const leg = github.runs.addJob(run);
    const up = await step(leg, UPLOAD, ['depot-monorepo-api', 'record of api']);
    expect(up.result.exitCode).toBe(0);
    const stranger = newRun();
    const twirp = (token: string, body: Record<string, unknown>) =>
      fetch(
        `${github.artifacts.url}twirp/github.actions.results.api.v1.ArtifactService/GetSignedArtifactURL`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        },
      );
    const ids = { workflow_run_backend_id: leg.backendRunId, workflow_job_run_backend_id: leg.backendJobId };
    const refused = await twirp(stranger.runtimeToken, { ...ids, name: 'depot-monorepo-api' });
    expect(refused.status).toBe(403);
    const missing = await twirp(run.runtimeToken, { ...ids, name: 'depot-monorepo-nope' });
    expect(missing.status).toBe(404);
    const ok = await twirp(run.runtimeToken, { ...ids, name: 'depot-monorepo-api' });
    const { signed_url: url } = (await ok.json()) as { signed_url: string };
    expect(new URL(url).searchParams.get('sp')).toBe('r');
    const blob = await fetch(url);
    expect(blob.status).toBe(200);
    expect(blob.headers.get('content-type')).toBe('application/zip');
    expect(
      Buffer.from(await blob.arrayBuffer())
        .subarray(0, 2)
        .toString(),
    ).toBe('PK');
    const unsigned = new URL(url);
    unsigned.searchParams.set('sig', 'forged');
    expect((await fetch(unsigned)).status).toBe(403);
  });

  it('an id filter lists that artifact only, and a listed digest reads as the client expects', async () => {
    const run = newRun();
    const leg = github.runs.addJob(run);
    await step(leg, UPLOAD, ['depot-monorepo-a', 'a']);
    await step(leg, UPLOAD, ['depot-monorepo-b', 'b']);
    const [a] = github.runs.artifactsOf('acme/mono', run.runId);
    const list = await step(run, [
      "const r = await client.getArtifact('depot-monorepo-a');",
      'console.log(JSON.stringify({ id: r.artifact.id, digest: r.artifact.digest }));',
    ]);
    expect(list.result.exitCode, list.result.stdout + list.result.stderr).toBe(0);
    expect(list.json).toEqual({ id: a?.id, digest: a?.digest });
  });
});
