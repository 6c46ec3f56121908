// The installer is loaded only when the CLI is missing: ncc puts install-cli.ts and @actions/tool-cache into a chunk
// of their own beside build-push's and bake's index.js. Proven on the bundles themselves: the chunk holds the
// installer and index.js does not, and a copy of the build-push bundle without that chunk still builds when
// `depot` is on PATH (its startup never reads the chunk), while without `depot` it is the chunk it reaches for. And
// the whole bundle under Node 24 and Node 20, with no depot on PATH: it installs a release (the depot stand-in in a
// real tarball) from a real local server, loading the chunk, and builds.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundlePath, prepareBundles } from '../test/support/bundles';
import { Job, NODE24, ROOT } from '../test/support/runner';
import { startStubServer } from '../test/support/stub-server';
import type { StubServer } from '../test/support/stub-server';
import { actionVersion } from './cli-release';

const STANDINS = join(ROOT, 'test', 'support', 'standins');
/** Text only the lazily loaded code has: install-cli.ts's line, and @actions/tool-cache's env variable. */
const INSTALLER_MARKS = ['depot CLI not on PATH: installing', 'RUNNER_TOOL_CACHE'];

beforeAll(() => prepareBundles(['build-push', 'bake']), 180_000);

/** A bin folder with only the docker stand-in: no depot on this PATH. */
function dockerOnly(job: Job): string {
  const bin = join(job.root, 'bin-docker-only');
  mkdirSync(bin);
  symlinkSync(join(STANDINS, 'docker'), join(bin, 'docker'));
  symlinkSync(join(STANDINS, 'package.json'), join(bin, 'package.json'));
  return bin;
}

/** The chunk files beside a bundle's index.js. */
function chunks(name: string): string[] {
  return readdirSync(dirname(bundlePath(name))).filter((f) => /^\d+\.index\.js$/.test(f));
}

/** The one chunk holding the installer. */
function installerChunk(name: string): string {
  const dir = dirname(bundlePath(name));
  const found = chunks(name).filter((f) => {
    const code = readFileSync(join(dir, f), 'utf8');
    return INSTALLER_MARKS.every((m) => code.includes(m));
  });
  expect(found).toHaveLength(1);
  return found[0] as string;
}

describe('the bundles: the installer in a chunk of its own', () => {
  it.each(['build-push', 'bake'])('%s: index.js has none of the installer, one chunk has it', (name) => {
    const main = readFileSync(bundlePath(name), 'utf8');
    for (const mark of INSTALLER_MARKS) expect(main).not.toContain(mark);
    installerChunk(name);
  });
});

describe('build-push without its installer chunk', () => {
  let job: Job | undefined;
  afterEach(() => job?.cleanup());

  /** A copy of actions/build-push beside a copy of its bundle with the installer chunk deleted. */
  function actionWithoutInstaller(root: string): { action: string; chunk: string } {
    const chunk = installerChunk('build-push');
    const dist = join(root, 'dist', 'build-push');
    cpSync(dirname(bundlePath('build-push')), dist, { recursive: true });
    rmSync(join(dist, chunk));
    const action = join(root, 'actions', 'build-push');
    mkdirSync(action, { recursive: true });
    cpSync(join(ROOT, 'actions', 'build-push', 'action.yml'), join(action, 'action.yml'));
    return { action, chunk };
  }

  it('with depot on PATH: builds (the chunk is never read)', async () => {
    job = new Job();
    const { action } = actionWithoutInstaller(join(job.root, 'copy'));
    job.paths.push(STANDINS);
    const record = join(job.root, 'record.jsonl');
    const r = await job.step(action, {
      inputs: { context: '.', token: 'depot-project-token-chunk-0a1b' },
      env: { STANDIN_RECORD: record },
    });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(readFileSync(record, 'utf8')).toContain('"tool":"depot"');
  });

  it('without depot on PATH: the install path is the one that loads the chunk', async () => {
    job = new Job();
    const { action, chunk } = actionWithoutInstaller(join(job.root, 'copy'));
    job.paths.push(dockerOnly(job));
    const r = await job.step(action, {
      inputs: { context: '.', token: 'depot-project-token-chunk-0a1b' },
      env: { DEPOT_MANIFEST_URL: 'http://127.0.0.1:9/manifest.json' },
    });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^::error::.*${chunk.replace('.', '\\.')}`, 'm'));
  });
});

describe('build-push with no depot on PATH, under Node 24 and Node 20', () => {
  const PLATFORM = `${process.platform}-${process.arch}`;
  const tarball = `depot-${actionVersion()}-${PLATFORM}.tar.gz`;
  let release: StubServer;
  let fixtures: string;
  let job: Job | undefined;

  beforeAll(async () => {
    // A release whose bin/depot is the recording stand-in (with the package.json it needs).
    fixtures = mkdtempSync(join(tmpdir(), 'install-cli-release-'));
    mkdirSync(join(fixtures, 'bin'));
    for (const f of ['depot', 'package.json']) cpSync(join(STANDINS, f), join(fixtures, 'bin', f));
    execFileSync('tar', ['czf', join(fixtures, tarball), '-C', fixtures, 'bin']);
    const body = readFileSync(join(fixtures, tarball));
    const sha256 = createHash('sha256').update(body).digest('hex');
    release = await startStubServer();
    release.on('GET', '/manifest.json', () => ({
      json: {
        latest: actionVersion(),
        versions: { [actionVersion()]: { [PLATFORM]: { url: tarball, sha256 } } },
      },
    }));
    release.on('GET', `/${tarball}`, () => ({ body }));
  });
  afterAll(async () => {
    await release?.close();
    rmSync(fixtures, { recursive: true, force: true });
  });
  afterEach(() => job?.cleanup());

  it.each([
    ['Node 24', NODE24],
    ['Node 20', process.execPath],
  ])('%s: installs the release of its own version, says so, and builds with it', async (_name, node) => {
    release.requests.length = 0;
    job = new Job();
    job.paths.push(dockerOnly(job));
    const record = join(job.root, 'record.jsonl');
    const manifestUrl = `${release.url}/manifest.json`;
    const r = await job.step(join(ROOT, 'actions', 'build-push'), {
      node,
      inputs: { context: '.', token: 'depot-project-token-chunk-0a1b', 'manifest-url': manifestUrl },
      env: { STANDIN_RECORD: record },
    });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(
      `depot CLI not on PATH: installing ${actionVersion()} (this action's version) from ${manifestUrl} (no setup step needed)`,
    );
    expect(release.requests.map((q) => q.path)).toEqual(['/manifest.json', `/${tarball}`]);
    const bin = join(job.toolCache, 'depot', actionVersion(), process.arch, 'bin');
    expect(job.paths[0]).toBe(bin);
    const calls = readFileSync(record, 'utf8').trim().split('\n');
    expect(calls.map((c) => (JSON.parse(c) as { tool: string }).tool)).toEqual(['depot']);
    expect(job.leakedSecrets(['depot-project-token-chunk-0a1b'])).toEqual([]);
  });
});
