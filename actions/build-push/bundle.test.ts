// The bundle, run as the GitHub runner runs it (main, then post), under Node 24 and Node 20, with the recording
// stand-ins for the depot CLI and docker on PATH (test/support/standins) and a real local server for the runner's
// OIDC endpoint and the broker. The bundle is dist/build-push when `npm test` has just checked dist/, else a fresh
// build of the sources (test/support/bundles.ts).
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { prepareBundles } from '../../test/support/bundles';
import { Job, NODE24, ROOT } from '../../test/support/runner';
import { startStubServer } from '../../test/support/stub-server';
import type { StubServer } from '../../test/support/stub-server';

const ACTION = join(ROOT, 'actions', 'build-push');
const STANDINS = join(ROOT, 'test', 'support', 'standins');
const PROJECT_TOKEN = 'depot-project-token-abc123def456';
const SECRET = 'npm_very_secret_value_42';

let server: StubServer;
let oidcTokens: string[];
let job: Job;
let record: string;

beforeAll(async () => {
  prepareBundles(['build-push']);
  server = await startStubServer();
});
afterAll(() => server.close());

beforeEach(() => {
  oidcTokens = [];
  server.requests.length = 0;
  server.on('GET', '/idtoken', (req) => {
    if (req.headers.authorization !== 'Bearer runtime-token-777') return { status: 401, json: {} };
    const value = `oidc.${req.query.get('audience')}.${oidcTokens.length + 1}.sig`;
    oidcTokens.push(value);
    return { json: { value } };
  });
  server.on('POST', '/auth/oidc/github-actions', () => ({
    json: {
      ok: true,
      token: PROJECT_TOKEN,
      project: 'web',
      isolated: false,
      expiresAt: '2026-11-23T12:00:00Z',
    },
  }));
});
afterEach(() => job?.cleanup());

function newJob(env: Record<string, string> = {}, withDepot = true): Job {
  job = new Job({
    repository: 'acme/web',
    event: {
      name: 'push',
      payload: { repository: { full_name: 'acme/web', private: false, visibility: 'public' } },
    },
    env: {
      ACTIONS_ID_TOKEN_REQUEST_URL: `${server.url}/idtoken?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runtime-token-777',
      ...env,
    },
  });
  record = join(job.root, 'record.jsonl');
  // PATH: the stand-ins first (docker always; depot only when "installed"), then the machine's.
  const bin = withDepot ? STANDINS : join(job.root, 'bin-docker-only');
  if (!withDepot) {
    mkdirSync(bin);
    symlinkSync(join(STANDINS, 'docker'), join(bin, 'docker'));
    symlinkSync(join(STANDINS, 'package.json'), join(bin, 'package.json'));
  }
  job.paths.push(bin);
  return job;
}

interface Call {
  tool: 'depot' | 'docker';
  args: string[];
  depotToken: string | null;
  secrets?: Record<string, string>;
}

/** The builds the stand-ins recorded (docker's probes, `buildx version` and `bake --print`, are not recorded). */
function calls(): Call[] {
  if (!existsSync(record)) return [];
  return readFileSync(record, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Call);
}

const baseInputs = {
  context: '.',
  tags: 'localhost:5000/app:latest',
  push: 'true',
  platforms: 'linux/amd64,linux/arm64',
  secrets: `NPM_TOKEN=${SECRET}`,
  'broker-url': '', // set per test
  project: 'web',
};

describe.each([
  ['Node 24', NODE24],
  ['Node 20', process.execPath],
])('build-push bundle under %s', (_name, node) => {
  it('exchanges the OIDC token, runs depot build with the token in its env only, sets outputs, cleans up', async () => {
    const j = newJob({ STANDIN_RECORD: '' });
    j.exported.STANDIN_RECORD = record;
    const main = await j.step(ACTION, { node, inputs: { ...baseInputs, 'broker-url': `${server.url}/` } });
    expect(main.exitCode, main.stdout + main.stderr).toBe(0);

    // The exchange: one fresh OIDC token for the broker URL's audience (no trailing slash), posted with the project.
    expect(oidcTokens).toEqual([`oidc.${server.url}.1.sig`]);
    const posted = server.requests.filter((r) => r.path === '/auth/oidc/github-actions');
    expect(posted.map((r) => JSON.parse(r.body) as unknown)).toEqual([
      { token: oidcTokens[0], project: 'web' },
    ]);

    const [depot] = calls();
    expect(depot?.tool).toBe('depot');
    expect(depot?.depotToken).toBe(PROJECT_TOKEN);
    const args = depot?.args ?? [];
    expect(args[0]).toBe('build');
    expect(args.slice(-3)).toEqual(['--project', 'web', '.']);
    expect(args).toEqual(
      expect.arrayContaining([
        '--tag',
        'localhost:5000/app:latest',
        '--push',
        '--platform',
        'linux/amd64,linux/arm64',
      ]),
    );
    expect(args.join(' ')).not.toContain(PROJECT_TOKEN);
    expect(args.join(' ')).not.toContain(SECRET);
    // The build saw the secret through a file.
    expect(depot?.secrets?.NPM_TOKEN).toBe(SECRET);

    expect(main.outputs).toMatchObject({
      imageid: 'sha256:1111111111111111111111111111111111111111111111111111111111111111',
      digest: 'sha256:2222222222222222222222222222222222222222222222222222222222222222',
      'build-id': 'bld_standin1',
      'project-id': 'web',
    });
    expect(JSON.parse(main.outputs.metadata ?? '{}')).toHaveProperty(
      ['depot.build', 'buildID'],
      'bld_standin1',
    );
    // The summary is the post step's (so a failed build has one too).
    expect(main.summary).toBe('');

    const tempBefore = readdirSync(j.temp);
    expect(tempBefore.length).toBe(1);
    const [post] = await j.finish();
    expect(post?.exitCode).toBe(0);
    expect(readdirSync(j.temp)).toEqual([]);
    expect(post?.summary).toContain('| Status | :white_check_mark: success |');
    expect(post?.summary).toContain('| Project | web |');
    expect(post?.summary).toContain('| Build id | bld_standin1 |');
    expect(post?.summary).toContain('| Platforms | linux/amd64, linux/arm64 |');
    expect(post?.summary).toContain(
      '| Digest | sha256:2222222222222222222222222222222222222222222222222222222222222222 |',
    );
    expect(post?.summary).toContain('| Built with | depot |');
    // The inputs used: the secret by its key only; no runtime for artifacts here, so no build record.
    expect(post?.summary).toContain('| secrets | NPM_TOKEN |');
    expect(post?.summary).not.toContain(SECRET);
    expect(post?.summary).not.toContain('github-token');
    expect(post?.summary).not.toContain('Build record');

    // The stub server's tokens (the project token, the OIDC tokens) are in the leak check whether masked or not.
    expect(j.leakedSecrets([SECRET])).toEqual([]);
    expect(j.masks).toContain(PROJECT_TOKEN);
    expect(j.masks).toContain(SECRET);
  });
});

describe('build-push bundle: failures a user can cause', () => {
  it('a broker refusal fails the step with its code and message, even with buildx-fallback; nothing builds', async () => {
    server.on('POST', '/auth/oidc/github-actions', () => ({
      status: 403,
      json: {
        ok: false,
        error: {
          code: 'no_trust_relationship',
          message: 'no rule of project web matches repository acme/web',
        },
      },
    }));
    const j = newJob();
    j.exported.STANDIN_RECORD = record;
    const main = await j.step(ACTION, {
      inputs: { ...baseInputs, 'broker-url': server.url, 'buildx-fallback': 'true' },
    });
    expect(main.exitCode).toBe(1);
    expect(main.stdout).toContain(
      '::error::The broker refused the token exchange (403 no_trust_relationship): no rule of project web matches repository acme/web',
    );
    expect(calls()).toEqual([]);
    expect(j.leakedSecrets()).toEqual([]);
  });

  it('buildx-fallback: an unreachable broker builds with plain docker buildx and the same buildx flags', async () => {
    const j = newJob();
    j.exported.STANDIN_RECORD = record;
    const main = await j.step(ACTION, {
      inputs: {
        ...baseInputs,
        'broker-url': 'http://127.0.0.1:9',
        'buildx-fallback': 'true',
        save: 'true',
        'cache-key': 'images-api',
      },
    });
    expect(main.exitCode, main.stdout).toBe(0);
    expect(main.stdout).toMatch(
      /::warning::Building with plain docker buildx \(buildx-fallback\): cannot reach the broker/,
    );
    expect(main.stdout).toContain(
      '::warning::Plain buildx does not know --save, --cache-key: they are left out of this build.',
    );
    const [docker] = calls();
    expect(docker?.tool).toBe('docker');
    expect(docker?.args.slice(0, 2)).toEqual(['buildx', 'build']);
    expect(docker?.args).toContain('--push');
    expect(docker?.args).not.toContain('--save');
    expect(docker?.args.join(' ')).not.toMatch(/cache-key|images-api/);
    expect(docker?.depotToken).toBeNull();
  }, 60_000);

  it('without buildx-fallback an unreachable broker fails the step', async () => {
    const j = newJob();
    j.exported.STANDIN_RECORD = record;
    const main = await j.step(ACTION, { inputs: { ...baseInputs, 'broker-url': 'http://127.0.0.1:9' } });
    expect(main.exitCode).toBe(1);
    expect(main.stdout).toMatch(
      /::error::Token exchange failed: cannot reach the broker at http:\/\/127\.0\.0\.1:9/,
    );
    expect(calls()).toEqual([]);
  }, 60_000);

  it('the CLI not on PATH and its release manifest missing: one line saying why, nothing runs', async () => {
    const j = newJob({ DEPOT_MANIFEST_URL: `${server.url}/manifest.json` }, false);
    j.exported.STANDIN_RECORD = record;
    const main = await j.step(ACTION, { inputs: { context: '.', token: PROJECT_TOKEN } });
    expect(main.exitCode).toBe(1);
    expect(main.stdout).toContain(
      `::error::The depot CLI is not on PATH and could not be installed: Cannot read the depot release manifest at ${server.url}/manifest.json: HTTP 404.`,
    );
    expect(calls()).toEqual([]);
    expect(j.leakedSecrets([PROJECT_TOKEN])).toEqual([]);
  });

  it('exit 69 falls back with buildx-fallback; a failed Dockerfile never does', async () => {
    let j = newJob({ STANDIN_DEPOT_EXIT: '69' });
    j.exported.STANDIN_RECORD = record;
    let main = await j.step(ACTION, {
      inputs: { context: '.', token: PROJECT_TOKEN, 'buildx-fallback': 'true', 'cache-key': 'images-api' },
    });
    expect(main.exitCode).toBe(0);
    expect(calls().map((c) => c.tool)).toEqual(['depot', 'docker']);
    // The cache key goes to depot only: plain buildx has no project cache.
    const [depot, docker] = calls();
    expect(depot?.args.join(' ')).toContain('--cache-key images-api');
    expect(docker?.args.join(' ')).not.toMatch(/cache-key|images-api/);
    j.cleanup();

    j = newJob({ STANDIN_DEPOT_EXIT: '1' });
    j.exported.STANDIN_RECORD = record;
    main = await j.step(ACTION, {
      inputs: { context: '.', token: PROJECT_TOKEN, 'buildx-fallback': 'true' },
    });
    expect(main.exitCode).toBe(1);
    expect(main.stdout).toContain(
      '::error::depot build failed with: ERROR: failed to solve: process "/bin/sh -c false" did not complete successfully: exit code: 1',
    );
    expect(calls().map((c) => c.tool)).toEqual(['depot']);
    // The failed build still gets its summary, from the post step; the token given as an input shows as ***.
    const [post] = await j.finish();
    expect(post?.exitCode).toBe(0);
    expect(post?.summary).toContain('| Status | :x: failed |');
    expect(post?.summary).toContain('| Error | depot build failed with: ERROR: failed to solve:');
    expect(post?.summary).toContain('| token | *** |');
    expect(post?.summary).not.toContain(PROJECT_TOKEN);
    expect(j.leakedSecrets()).toEqual([]);
  });

  it('DOCKER_BUILD_SUMMARY=false: no summary; call: outline has none; the removed DOCKER_BUILD_NO_SUMMARY does nothing', async () => {
    const cases: Array<[Record<string, string>, Record<string, string>, boolean]> = [
      [{ DOCKER_BUILD_SUMMARY: 'false' }, {}, false],
      [{}, { call: 'outline' }, false],
      [{ DOCKER_BUILD_NO_SUMMARY: 'true', DOCKER_BUILD_EXPORT_RETENTION_DAYS: '3' }, {}, true],
    ];
    for (const [env, inputs, written] of cases) {
      const j = newJob(env);
      const main = await j.step(ACTION, { inputs: { context: '.', token: PROJECT_TOKEN, ...inputs } });
      expect(main.exitCode, main.stdout).toBe(0);
      const [post] = await j.finish();
      expect(post?.exitCode).toBe(0);
      if (written)
        expect(post?.summary, JSON.stringify(env)).toContain('| Status | :white_check_mark: success |');
      else expect(post?.summary, JSON.stringify({ env, inputs })).toBe('');
      j.cleanup();
    }
  });

  it('no id-token permission: one line saying what to add', async () => {
    const j = newJob({ ACTIONS_ID_TOKEN_REQUEST_URL: '', ACTIONS_ID_TOKEN_REQUEST_TOKEN: '' });
    j.exported.STANDIN_RECORD = record;
    const main = await j.step(ACTION, { inputs: { context: '.', project: 'web', 'broker-url': server.url } });
    expect(main.exitCode).toBe(1);
    expect(main.stdout).toContain(
      '::error::This job cannot request an OIDC token: add `permissions: id-token: write`',
    );
  });

  it.each([
    [{ push: 'yes' }, '::error::Input `push` must be true or false, got "yes".'],
    [{ 'lint-fail-on': 'fatal' }, '::error::Input `lint-fail-on` must be one of error, warn, info, none'],
  ])('a bad input %j fails in one clear line, no stack trace', async (inputs, message) => {
    const j = newJob();
    j.exported.STANDIN_RECORD = record;
    const main = await j.step(ACTION, { inputs: { context: '.', ...inputs } });
    expect(main.exitCode).toBe(1);
    expect(main.stdout).toContain(message);
    expect(main.stdout + main.stderr).not.toMatch(/\n\s+at /);
    expect(calls()).toEqual([]);
  });

  it('no token, broker or project: builds through the CLI without a project cache, with one warning', async () => {
    const j = newJob();
    j.exported.STANDIN_RECORD = record;
    const main = await j.step(ACTION, { inputs: { context: '.' } });
    expect(main.exitCode).toBe(0);
    expect(main.stdout).toContain(
      '::warning::No project cache for this build: no token, broker URL or project is set.',
    );
    expect(calls()[0]?.depotToken).toBeNull();
  });
});
