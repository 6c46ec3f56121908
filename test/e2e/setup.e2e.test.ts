// actions/setup's committed bundle, run as the GitHub runner runs it (node24, INPUT_*, GITHUB_* files,
// RUNNER_TEMP, RUNNER_TOOL_CACHE), installing the CLI release `npm run release:cli` builds from a real local HTTP
// server that serves the release folder and records every request.
import { releaseInto } from '../support/release';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Job, NODE24, ROOT } from '../support/runner';
import { serveFolder } from '../support/static-server';
import type { StubServer } from '../support/stub-server';

const ACTION = join(ROOT, 'actions', 'setup');
const PLATFORM = `${process.platform}-${process.arch}`;

interface Manifest {
  latest: string;
  versions: Record<string, Record<string, { url: string; sha256: string }>>;
}

let releaseDir: string;
let manifest: Manifest;
let release: StubServer;
let manifestUrl: string;
let tarballName: string;
const jobs: Job[] = [];

beforeAll(async () => {
  releaseDir = mkdtempSync(join(tmpdir(), 'setup-release-'));
  releaseInto(releaseDir);
  manifest = JSON.parse(readFileSync(join(releaseDir, 'manifest.json'), 'utf8')) as Manifest;
  tarballName = manifest.versions[manifest.latest]?.[PLATFORM]?.url.split('/').pop() ?? '';
  release = await serveFolder(releaseDir);
  manifestUrl = `${release.url}/manifest.json`;
});
afterAll(async () => {
  await release?.close();
  rmSync(releaseDir, { recursive: true, force: true });
});
afterEach(() => {
  for (const j of jobs.splice(0)) j.cleanup();
  release.requests.length = 0;
});

function newJob(opts: ConstructorParameters<typeof Job>[0] = {}): Job {
  const job = new Job(opts);
  jobs.push(job);
  return job;
}

/** `depot version` as a later step of the job would run it: through the PATH the job has now. */
function depotVersion(job: Job): string {
  const env = job.baseEnv();
  return execFileSync('depot', ['version'], { env, encoding: 'utf8', cwd: job.workspace }).trim();
}

const requested = () => release.requests.map((r) => `${r.method} ${r.path}`);

describe('setup bundle: install from a release server', () => {
  // node24 as action.yml says; Node 20 because actions/use runs the bundle with the runner's `node`.
  it.each([
    ['Node 24', NODE24],
    ['Node 20', process.execPath],
  ])(
    'cold under %s: downloads the latest release, caches it as depot/<version>/<arch>, adds bin to PATH, sets outputs',
    async (_name, node) => {
      expect(tarballName).toMatch(/\.tar\.gz$/);
      const job = newJob();
      const r = await job.step(ACTION, { node, inputs: { 'manifest-url': manifestUrl } });
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);

      const dir = join(job.toolCache, 'depot', manifest.latest, process.arch);
      expect(r.outputs).toEqual({ version: manifest.latest, path: dir });
      expect(existsSync(`${dir}.complete`)).toBe(true);
      expect(existsSync(join(dir, 'bin', 'depot'))).toBe(true);
      expect(job.paths).toEqual([join(dir, 'bin')]);
      expect(requested()).toEqual(['GET /manifest.json', `GET /${tarballName}`]);
      expect(r.stdout).toContain(
        `SHA-256 verified: ${manifest.versions[manifest.latest]?.[PLATFORM]?.sha256}`,
      );

      // A later step runs the installed CLI by name.
      expect(depotVersion(job)).toContain(manifest.latest);
      // RUNNER_TEMP keeps nothing of the download.
      expect(readdirSync(job.temp)).toEqual([]);
    },
  );

  it('warm: a second job with the same tool cache and an exact version makes no request at all', async () => {
    const first = newJob();
    expect((await first.step(ACTION, { inputs: { 'manifest-url': manifestUrl } })).exitCode).toBe(0);
    release.requests.length = 0;

    const second = newJob({ toolCache: first.toolCache });
    const r = await second.step(ACTION, {
      inputs: { version: manifest.latest, 'manifest-url': manifestUrl },
    });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(release.requests).toEqual([]);
    expect(r.outputs.path).toBe(join(first.toolCache, 'depot', manifest.latest, process.arch));
    expect(r.stdout).toContain(`depot ${manifest.latest} is in the tool cache`);
    expect(depotVersion(second)).toContain(manifest.latest);
  });

  it('DEPOT_MANIFEST_URL and a semver range', async () => {
    const major = manifest.latest.split('.')[0] ?? '0';
    const job = newJob({ env: { DEPOT_MANIFEST_URL: manifestUrl } });
    const r = await job.step(ACTION, { inputs: { version: `${major}.x` } });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.outputs.version).toBe(manifest.latest);
    expect(requested()[0]).toBe('GET /manifest.json');
  });
});

describe('setup bundle: refusals', () => {
  it('a tampered tarball fails the step with a checksum mismatch; nothing is cached or added to PATH', async () => {
    const genuine = readFileSync(join(releaseDir, tarballName));
    const tampered = Buffer.concat([genuine, Buffer.from('tampered')]);
    release.on('GET', `/${tarballName}`, () => ({ body: tampered }));
    try {
      const job = newJob();
      const r = await job.step(ACTION, { inputs: { 'manifest-url': manifestUrl } });
      expect(r.exitCode).toBe(1);
      expect(r.stdout).toMatch(
        new RegExp(
          `^::error::Checksum mismatch for depot ${manifest.latest.replace(/\./g, '\\.')} \\(${PLATFORM}\\)`,
          'm',
        ),
      );
      expect(r.stdout + r.stderr).not.toMatch(/^\s+at /m); // no stack trace
      expect(readdirSync(job.toolCache)).toEqual([]);
      expect(job.paths).toEqual([]);
      expect(r.outputs).toEqual({});
      expect(readdirSync(job.temp)).toEqual([]);
    } finally {
      release.on('GET', `/${tarballName}`, () => ({ body: readFileSync(join(releaseDir, tarballName)) }));
    }
  });

  it.each([
    [{ version: '99.0.0' }, `::error::depot 99.0.0 does not exist: the manifest at `],
    [{ version: 'newest' }, '::error::Input `version` must be an exact version such as 1.2.3'],
    [{ oidc: 'maybe' }, '::error::Input `oidc` must be true or false, got "maybe".'],
  ])('inputs %j fail in one line: %s', async (inputs, message) => {
    const job = newJob();
    const r = await job.step(ACTION, { inputs: { 'manifest-url': manifestUrl, ...inputs } });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(message);
    expect(readdirSync(job.toolCache)).toEqual([]);
  });
});

describe('setup bundle: oidc', () => {
  it('exchanges the OIDC token at the broker and exports DEPOT_TOKEN, masked, never printed', async () => {
    const projectToken = `eyJ.project-${Date.now().toString(36)}.sig`;
    const oidcTokens: string[] = [];
    release.on('GET', '/idtoken', (req) => {
      if (req.headers.authorization !== 'Bearer runtime-token-777') return { status: 401, json: {} };
      const value = `oidc.${req.query.get('audience')}.${oidcTokens.length + 1}`;
      oidcTokens.push(value);
      return { json: { value } };
    });
    release.on('POST', '/auth/oidc/github-actions', () => ({
      json: {
        ok: true,
        token: projectToken,
        project: 'web',
        isolated: false,
        expiresAt: '2026-11-23T12:00:00Z',
      },
    }));
    const job = newJob({
      env: {
        ACTIONS_ID_TOKEN_REQUEST_URL: `${release.url}/idtoken?api-version=2.0`,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runtime-token-777',
      },
    });
    const r = await job.step(ACTION, {
      inputs: { 'manifest-url': manifestUrl, oidc: 'true', project: 'web', 'broker-url': release.url },
    });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(oidcTokens).toEqual([`oidc.${release.url}.1`]);
    const posted = release.requests.filter((q) => q.path === '/auth/oidc/github-actions');
    expect(posted.map((q) => JSON.parse(q.body) as unknown)).toEqual([
      { token: oidcTokens[0], project: 'web' },
    ]);
    expect(job.exported.DEPOT_TOKEN).toBe(projectToken);
    expect(job.masks).toContain(projectToken);
    expect(job.leakedSecrets([projectToken, ...oidcTokens])).toEqual([]);
  });
});

describe('setup bundle: configure-docker', () => {
  it('runs `depot configure-docker` with the installed CLI, writing only into DOCKER_CONFIG', async () => {
    const job = newJob();
    const dockerConfig = join(job.temp, 'docker-config');
    const home = join(job.root, 'home');
    mkdirSync(dockerConfig);
    mkdirSync(home);
    const r = await job.step(ACTION, {
      inputs: { 'manifest-url': manifestUrl, 'configure-docker': 'true' },
      env: { DOCKER_CONFIG: dockerConfig, HOME: home },
    });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('::group::depot configure-docker');
    // docker's buildx plugin in this DOCKER_CONFIG is now depot's shim, running the CLI this step installed.
    const shim = readFileSync(join(dockerConfig, 'cli-plugins', 'docker-buildx'), 'utf8');
    expect(shim).toContain('depot configure-docker shim');
    expect(shim).toContain(join(job.toolCache, 'depot', manifest.latest, process.arch));
    expect(readdirSync(home)).toEqual([]);
  });
});
