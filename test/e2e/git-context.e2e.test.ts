// build-push's default git context against a real git server: `git http-backend` on a loopback port in this process
// (test/support/git-http.ts), serving acme/web as a bare repository, with GITHUB_SERVER_URL pointed at it so the
// action builds the default context from it. The build-push bundle runs as the runner runs it, through the depot CLI
// bundle (no project: a plain build) on the real engine (Docker 28, buildx 0.29). BuildKit runs in dockerd, on the
// host's network: it reaches 127.0.0.1 and fetches over plain http. Both forms are built: the query form
// (`?ref=<sha>&subdir=app`, BUILDX_SEND_GIT_QUERY_AS_INPUT on buildx 0.29) and the classic one (`#<sha>:app`); the
// GIT_AUTH_TOKEN goes to this server for this repository; the Dockerfile's build-check warning becomes an annotation
// on app/Dockerfile; `call: check` fails with buildx's "Check complete" line.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundlePath, prepareBundles } from '../support/bundles';
import { run, serveGit } from '../support/git-http';
import type { GitHttpServer } from '../support/git-http';
import { Job } from '../support/runner';
import { MONOREPO_ACTIONS } from './scenarios';

const DOCKERFILE = 'FROM scratch as base\nCOPY hello /hello\n';
let root: string;
let server: GitHttpServer;
/** One commit per form, so that each build fetches its own commit from the server (BuildKit caches a fetched one). */
const sha: Record<string, string> = {};
let bin: string;
const jobs: Job[] = [];

beforeAll(async () => {
  prepareBundles(['build-push', 'cli']);
  root = mkdtempSync(join(tmpdir(), 'git-context-'));
  const src = join(root, 'src');
  mkdirSync(join(src, 'app'), { recursive: true });
  writeFileSync(join(src, 'app', 'Dockerfile'), DOCKERFILE);
  await run('git', ['init', '-q', '-b', 'main', src]);
  for (const form of ['query', 'classic']) {
    writeFileSync(join(src, 'app', 'hello'), `hello from git ${form} ${Date.now()}\n`);
    await run('git', ['add', '.'], src);
    await run('git', ['-c', 'user.email=ci@example.com', '-c', 'user.name=ci', 'commit', '-qm', form], src);
    sha[form] = await run('git', ['rev-parse', 'HEAD'], src);
  }
  mkdirSync(join(root, 'served', 'acme'), { recursive: true });
  await run('git', ['clone', '-q', '--bare', src, join(root, 'served', 'acme', 'web.git')]);
  server = await serveGit(join(root, 'served'));
  // `depot` on PATH is the CLI bundle.
  bin = join(root, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'depot'), `#!/bin/sh\nexec "${process.execPath}" "${bundlePath('cli')}" "$@"\n`);
  chmodSync(join(bin, 'depot'), 0o755);
});

afterAll(async () => {
  for (const j of jobs) {
    await j.finish();
    j.cleanup();
  }
  await server?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

function newJob(env: Record<string, string> = {}, commit = sha.query ?? ''): Job {
  const job = new Job({
    repository: 'acme/web',
    env: {
      GITHUB_SERVER_URL: server.url,
      GITHUB_SHA: commit,
      PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`,
      BUILDKIT_PROGRESS: 'plain',
      ...env,
    },
  });
  jobs.push(job);
  return job;
}

/** The annotation core.warning writes for app/Dockerfile line 1's FromAsCasing. */
const ANNOTATION =
  /::warning title=The 'as' keyword should match the case of the 'from' keyword,file=app\/Dockerfile,line=1,endLine=1::FromAsCasing: 'as' and 'FROM' keywords' casing do not match%0AMore info: https:\/\/docs.docker.com\/go\/dockerfile\/rule\/from-as-casing\//;

describe('the default git context from a loopback git server', () => {
  it.each([
    [
      'query',
      { BUILDX_SEND_GIT_QUERY_AS_INPUT: 'true' },
      () => `${server.url}/acme/web.git?ref=${sha.query}&subdir=app`,
    ],
    ['classic', {}, () => `${server.url}/acme/web.git#${sha.classic}:app`],
  ])('the %s form builds this repository at the event commit', async (form, env, context) => {
    const job = newJob(env, sha[form]);
    const out = join(job.root, 'out');
    const seen = server.requests.length;
    const r = await job.step(MONOREPO_ACTIONS.buildPush, {
      inputs: {
        context: '{{defaultContext}}:app',
        outputs: `type=local,dest=${out}`,
        'github-token': job.githubToken,
      },
    });
    const log = job.output();
    expect(r.exitCode, log).toBe(0);
    // The context the depot CLI was given, last on its command line; the token rides as a secret scoped to the host.
    const line = log.split('\n').find((l) => l.startsWith('depot build '));
    expect(line?.endsWith(` ${context()}`), line).toBe(true);
    expect(line).toContain(`--secret id=GIT_AUTH_TOKEN.${new URL(server.url).host},src=`);
    expect(line).not.toContain(job.githubToken);
    // BuildKit fetched it from our server and built app/ at that commit.
    const fetched = server.requests.slice(seen);
    expect(
      fetched.some((q) => q.path === '/acme/web.git/info/refs' || q.path.startsWith('/acme/web.git/')),
      JSON.stringify(fetched),
    ).toBe(true);
    expect(readFileSync(join(out, 'hello'), 'utf8')).toMatch(new RegExp(`^hello from git ${form} \\d+\n$`));
    // The token went to this repository's own server, as basic auth (x-access-token), and nowhere else.
    const basic = `Basic ${Buffer.from(`x-access-token:${job.githubToken}`).toString('base64')}`;
    const auth = fetched.map((q) => q.authorization?.replace(/^basic /i, 'Basic '));
    expect(auth.length).toBeGreaterThan(0);
    expect(auth.every((a) => a === basic)).toBe(true);
    // The build check's warning is an annotation on the Dockerfile's line, at its path in the repository.
    expect(log).toMatch(ANNOTATION);
    expect(job.leakedSecrets()).toEqual([]);
  });

  it('DOCKER_BUILD_CHECKS_ANNOTATIONS=false: no annotation', async () => {
    const job = newJob({ DOCKER_BUILD_CHECKS_ANNOTATIONS: 'false' });
    const r = await job.step(MONOREPO_ACTIONS.buildPush, {
      inputs: { context: '{{defaultContext}}:app', outputs: `type=local,dest=${join(job.root, 'out')}` },
    });
    expect(r.exitCode, job.output()).toBe(0);
    expect(
      job
        .output()
        .split('\n')
        .filter((l) => l.startsWith('::warning title=')),
    ).toEqual([]);
  });

  it('call: check fails with "Check complete, 1 warning has been found!" and annotates the warning', async () => {
    const job = newJob({ BUILDX_SEND_GIT_QUERY_AS_INPUT: 'true' });
    const r = await job.step(MONOREPO_ACTIONS.buildPush, {
      inputs: { context: '{{defaultContext}}:app', call: 'check' },
    });
    const log = job.output();
    expect(r.exitCode, log).toBe(1);
    expect(log).toContain('::error::Check complete, 1 warning has been found!');
    expect(log).toMatch(
      /::warning title=The 'as' keyword should match the case of the 'from' keyword,file=app\/Dockerfile,line=1,endLine=1::FromAsCasing/,
    );
  });
});
