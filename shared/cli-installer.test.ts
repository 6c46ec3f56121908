// The installer against a release server faked with msw (the network edge), real tarballs made with tar, a real
// tool cache in a temp dir, and real extraction.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseVersionSpec } from './cli-release';
import { Installer } from './cli-installer';
import { UserError } from './errors';

const BASE = 'https://releases.test/depot';
const MANIFEST = `${BASE}/manifest.json`;
const PLATFORM = `${process.platform}-${process.arch}`;

const server = setupServer();
let requests: string[];
server.events.on('request:start', ({ request }) => requests.push(`${request.method} ${request.url}`));

let fixtures: string;
/** Tarball bytes by name, made once with tar. */
const tarballs: Record<string, Buffer> = {};

function makeTarball(name: string, script: string, opts: { topDir?: string; noBin?: boolean } = {}): Buffer {
  const src = join(fixtures, `${name}.src`);
  const root = opts.topDir ? join(src, opts.topDir) : src;
  mkdirSync(join(root, opts.noBin ? 'libexec' : 'bin'), { recursive: true });
  const file = join(root, opts.noBin ? 'libexec' : 'bin', 'depot');
  writeFileSync(file, script);
  chmodSync(file, 0o755);
  const out = join(fixtures, name);
  execFileSync('tar', ['czf', out, '-C', src, ...readdirSync(src)]);
  return readFileSync(out);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(() => {
  server.listen({ onUnhandledRequest: 'error' });
  // @actions/http-client imports node:http as an ES module: let its namespace see msw's patched request().
  syncBuiltinESMExports();
  // @actions/tool-cache's own test hook: no 10-20 s sleeps between download attempts.
  Object.assign(globalThis, {
    TEST_DOWNLOAD_TOOL_RETRY_MIN_SECONDS: 0,
    TEST_DOWNLOAD_TOOL_RETRY_MAX_SECONDS: 0,
  });
  fixtures = mkdtempSync(join(tmpdir(), 'setup-fixtures-'));
  for (const v of ['1.0.0', '1.2.0', '1.3.0-rc.1', '2.0.0']) {
    tarballs[`depot-${v}-${PLATFORM}.tar.gz`] = makeTarball(v, `#!/bin/sh\necho "depot ${v}"\n`, {
      topDir: v === '1.0.0' ? `depot-${v}` : undefined,
    });
  }
  tarballs.evil = makeTarball('evil', '#!/bin/sh\necho "owned"\n');
  tarballs['nobin.tar.gz'] = makeTarball('nobin', '#!/bin/sh\n', { noBin: true });
});
afterAll(() => {
  server.close();
  rmSync(fixtures, { recursive: true, force: true });
});

let toolCache: string;
let temp: string;
let logs: string[];

beforeEach(() => {
  requests = [];
  logs = [];
  const dir = mkdtempSync(join(tmpdir(), 'setup-runner-'));
  toolCache = join(dir, 'tool-cache');
  temp = join(dir, 'temp');
  mkdirSync(toolCache);
  mkdirSync(temp);
  vi.stubEnv('RUNNER_TOOL_CACHE', toolCache);
  vi.stubEnv('RUNNER_TEMP', temp);
});
afterEach(() => {
  server.resetHandlers();
  vi.unstubAllEnvs();
  rmSync(join(toolCache, '..'), { recursive: true, force: true });
});

interface Entry {
  url: string;
  sha256: string;
}

/** The manifest release:cli writes, for the tarballs above, relative urls. */
function manifestFor(over: Record<string, Record<string, Entry>> = {}, latest = '1.2.0') {
  const versions: Record<string, Record<string, Entry>> = {};
  for (const v of ['1.0.0', '1.2.0', '1.3.0-rc.1', '2.0.0']) {
    const name = `depot-${v}-${PLATFORM}.tar.gz`;
    versions[v] = { [PLATFORM]: { url: name, sha256: sha256(tarballs[name] as Buffer) } };
  }
  return { latest, versions: { ...versions, ...over } };
}

/** Serves the manifest and the tarballs; `files` overrides what a tarball name serves. */
function serve(manifest: ReturnType<typeof manifestFor> = manifestFor(), files: Record<string, Buffer> = {}) {
  server.use(
    http.get(MANIFEST, () => HttpResponse.json(manifest)),
    http.get(`${BASE}/:file`, ({ params }) => {
      const body = files[String(params.file)] ?? tarballs[String(params.file)];
      return body ? new HttpResponse(new Uint8Array(body)) : new HttpResponse('not found', { status: 404 });
    }),
  );
}

const installer = () => new Installer({ log: { info: (m) => logs.push(m), debug: () => undefined } });

/** Runs the installed CLI as a user would. */
const runDepot = (bin: string) => execFileSync(join(bin, 'depot'), ['version'], { encoding: 'utf8' }).trim();

async function failure(p: Promise<unknown>): Promise<UserError> {
  const err: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  expect((err as Error).message).not.toContain('\n');
  return err as UserError;
}

describe('Installer: from the manifest into the tool cache', () => {
  it('latest: downloads the version the manifest calls latest, verifies it, caches it under depot/<version>/<arch>', async () => {
    serve();
    const got = await installer().install(parseVersionSpec('latest'), MANIFEST);
    const dir = join(toolCache, 'depot', '1.2.0', process.arch);
    expect(got).toEqual({ version: '1.2.0', dir, bin: join(dir, 'bin'), fromCache: false });
    expect(existsSync(`${dir}.complete`)).toBe(true);
    expect(runDepot(got.bin)).toBe('depot 1.2.0');
    expect(requests).toEqual([`GET ${MANIFEST}`, `GET ${BASE}/depot-1.2.0-${PLATFORM}.tar.gz`]);
    expect(logs).toContain(
      `SHA-256 verified: ${sha256(tarballs[`depot-1.2.0-${PLATFORM}.tar.gz`] as Buffer)}`,
    );
    // The download and the extracted tree are gone from RUNNER_TEMP.
    expect(readdirSync(temp)).toEqual([]);
  });

  it.each([
    ['1.x', '1.2.0'],
    ['^1.0.0', '1.2.0'],
    ['~1.0', '1.0.0'],
    ['>=1.0.0', '2.0.0'],
    ['2.0.0', '2.0.0'],
    ['1.3.0-rc.1', '1.3.0-rc.1'],
  ])('version "%s" installs %s', async (spec, want) => {
    serve();
    const got = await installer().install(parseVersionSpec(spec), MANIFEST);
    expect(got.version).toBe(want);
    expect(runDepot(got.bin)).toBe(`depot ${want}`);
  });

  it('accepts a tarball whose files sit under one top-level folder', async () => {
    serve();
    const got = await installer().install(parseVersionSpec('1.0.0'), MANIFEST);
    expect(readdirSync(got.dir)).toEqual(['bin']);
    expect(runDepot(got.bin)).toBe('depot 1.0.0');
  });

  it('follows absolute urls in the manifest to another host', async () => {
    const body = tarballs[`depot-2.0.0-${PLATFORM}.tar.gz`] as Buffer;
    server.use(http.get('https://mirror.test/any/where.tgz', () => new HttpResponse(new Uint8Array(body))));
    serve(
      manifestFor({
        '2.0.0': { [PLATFORM]: { url: 'https://mirror.test/any/where.tgz', sha256: sha256(body) } },
      }),
    );
    const got = await installer().install(parseVersionSpec('2.x'), MANIFEST);
    expect(runDepot(got.bin)).toBe('depot 2.0.0');
    expect(requests).toContain('GET https://mirror.test/any/where.tgz');
  });
});

describe('Installer: a warm tool cache', () => {
  it('an exact version already cached makes no request at all', async () => {
    serve();
    await installer().install(parseVersionSpec('1.2.0'), MANIFEST);
    server.resetHandlers(); // from here any request would fail (onUnhandledRequest: 'error')
    requests = [];
    const got = await installer().install(parseVersionSpec('1.2.0'), MANIFEST);
    expect(got).toMatchObject({ version: '1.2.0', fromCache: true });
    expect(requests).toEqual([]);
    expect(runDepot(got.bin)).toBe('depot 1.2.0');
  });

  it('latest reads the manifest, then uses the cached version without downloading it again', async () => {
    serve();
    await installer().install(parseVersionSpec('1.2.0'), MANIFEST);
    requests = [];
    const got = await installer().install(parseVersionSpec('latest'), MANIFEST);
    expect(got).toMatchObject({ version: '1.2.0', fromCache: true });
    expect(requests).toEqual([`GET ${MANIFEST}`]);
  });

  it('an unfinished install (no .complete marker) is not trusted: it is downloaded again', async () => {
    const stale = join(toolCache, 'depot', '1.2.0', process.arch, 'bin');
    mkdirSync(stale, { recursive: true });
    writeFileSync(join(stale, 'depot'), '#!/bin/sh\necho half\n', { mode: 0o755 });
    serve();
    const got = await installer().install(parseVersionSpec('1.2.0'), MANIFEST);
    expect(got.fromCache).toBe(false);
    expect(runDepot(got.bin)).toBe('depot 1.2.0');
  });
});

describe('Installer: refusals', () => {
  it('a tampered tarball is refused before extraction and nothing is cached', async () => {
    serve(manifestFor(), { [`depot-2.0.0-${PLATFORM}.tar.gz`]: tarballs.evil as Buffer });
    const err = await failure(installer().install(parseVersionSpec('2.0.0'), MANIFEST));
    const want = sha256(tarballs[`depot-2.0.0-${PLATFORM}.tar.gz`] as Buffer);
    expect(err.message).toBe(
      `Checksum mismatch for depot 2.0.0 (${PLATFORM}) from ${BASE}/depot-2.0.0-${PLATFORM}.tar.gz: ` +
        `the manifest says sha256 ${want}, the download has ${sha256(tarballs.evil as Buffer)}. ` +
        'Nothing was installed; check the release or the mirror serving it.',
    );
    expect(readdirSync(toolCache)).toEqual([]);
    expect(readdirSync(temp)).toEqual([]);
  });

  it('a tarball without bin/depot is refused and nothing is cached', async () => {
    const body = tarballs['nobin.tar.gz'] as Buffer;
    serve(manifestFor({ '2.0.0': { [PLATFORM]: { url: 'nobin.tar.gz', sha256: sha256(body) } } }));
    const err = await failure(installer().install(parseVersionSpec('2.0.0'), MANIFEST));
    expect(err.message).toContain(`The depot 2.0.0 (${PLATFORM}) tarball has no bin/depot`);
    expect(readdirSync(toolCache)).toEqual([]);
  });

  it('a version with no build for this OS/arch fails naming the builds there are, before any download', async () => {
    serve(manifestFor({ '2.0.0': { 'plan9-mips': { url: 'x.tgz', sha256: 'a'.repeat(64) } } }));
    const err = await failure(installer().install(parseVersionSpec('2.0.0'), MANIFEST));
    expect(err.message).toBe(
      `depot 2.0.0 has no build for ${PLATFORM} (it has plan9-mips): run this step on one of those, or pick a version built for this runner.`,
    );
    expect(requests).toEqual([`GET ${MANIFEST}`]);
  });

  it('an unknown version fails listing the versions there are', async () => {
    serve();
    const err = await failure(installer().install(parseVersionSpec('9.9.9'), MANIFEST));
    expect(err.message).toBe(
      `depot 9.9.9 does not exist: the manifest at ${MANIFEST} has 2.0.0, 1.3.0-rc.1, 1.2.0, 1.0.0. Set \`version\` to one of them.`,
    );
    expect(requests).toEqual([`GET ${MANIFEST}`]);
  });

  it('a manifest that is not one is refused', async () => {
    server.use(http.get(MANIFEST, () => HttpResponse.text('<html>hello</html>')));
    const err = await failure(installer().install(parseVersionSpec('latest'), MANIFEST));
    expect(err.message).toBe(`The release manifest at ${MANIFEST} is not usable: it is not JSON.`);
  });

  it('a missing manifest (404) fails at once: no retry', async () => {
    server.use(http.get(MANIFEST, () => new HttpResponse('nope', { status: 404 })));
    const err = await failure(installer().install(parseVersionSpec('latest'), MANIFEST));
    expect(err.message).toBe(
      `Cannot read the depot release manifest at ${MANIFEST}: HTTP 404. Check \`manifest-url\` (or DEPOT_MANIFEST_URL) and that the release exists.`,
    );
    expect(requests).toHaveLength(1);
  });

  it('a manifest server that keeps failing: three tries, then one line', async () => {
    server.use(http.get(MANIFEST, () => new HttpResponse('busy', { status: 503 })));
    const err = await failure(installer().install(parseVersionSpec('latest'), MANIFEST));
    expect(err.message).toContain(
      `Cannot read the depot release manifest at ${MANIFEST}: HTTP 503 after 3 tries.`,
    );
    expect(requests).toEqual(Array(3).fill(`GET ${MANIFEST}`));
  });

  it('an unreachable manifest server: three tries, then one line', async () => {
    server.use(http.get(MANIFEST, () => HttpResponse.error()));
    const err = await failure(installer().install(parseVersionSpec('latest'), MANIFEST));
    expect(err.message).toMatch(
      new RegExp(`^Cannot read the depot release manifest at ${MANIFEST}: .+ \\(after 3 tries\\)\\. Check`),
    );
    expect(requests).toHaveLength(3);
  });

  it('a missing tarball (404) fails naming the version and the URL; nothing is cached', async () => {
    serve(manifestFor({ '2.0.0': { [PLATFORM]: { url: 'gone.tgz', sha256: 'a'.repeat(64) } } }));
    const err = await failure(installer().install(parseVersionSpec('2.0.0'), MANIFEST));
    expect(err.message).toBe(`Cannot download depot 2.0.0 (${PLATFORM}) from ${BASE}/gone.tgz: HTTP 404.`);
    expect(readdirSync(toolCache)).toEqual([]);
  });

  it('without RUNNER_TOOL_CACHE it says to run on a runner, before any request', async () => {
    vi.stubEnv('RUNNER_TOOL_CACHE', '');
    const err = await failure(installer().install(parseVersionSpec('latest'), MANIFEST));
    expect(err.message).toBe(
      'RUNNER_TOOL_CACHE is not set: run this action in a GitHub Actions job (the runner sets it).',
    );
    expect(requests).toEqual([]);
  });
});

describe('Installer: transient failures', () => {
  it('a flaky server that fails twice then succeeds still installs', async () => {
    let manifestCalls = 0;
    let tarballCalls = 0;
    const name = `depot-1.2.0-${PLATFORM}.tar.gz`;
    server.use(
      http.get(MANIFEST, () =>
        ++manifestCalls <= 2 ? new HttpResponse('busy', { status: 503 }) : HttpResponse.json(manifestFor()),
      ),
      http.get(`${BASE}/${name}`, () =>
        ++tarballCalls === 1
          ? HttpResponse.error()
          : tarballCalls === 2
            ? new HttpResponse('slow down', { status: 429 })
            : new HttpResponse(new Uint8Array(tarballs[name] as Buffer)),
      ),
    );
    const got = await installer().install(parseVersionSpec('latest'), MANIFEST);
    expect(runDepot(got.bin)).toBe('depot 1.2.0');
    expect([manifestCalls, tarballCalls]).toEqual([3, 3]);
  });
});
