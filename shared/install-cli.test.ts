// build-push and bake with no setup step: DepotCli finds no `depot` on PATH and installs it through the real
// installer (loaded by its dynamic import) from a release server faked with msw, into a real tool cache, then runs
// the installed CLI (a real script from a real tarball) with a real exec. The tool cache warm, nothing is requested.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { http, HttpResponse } from 'msw';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { useMswServer } from '../test/support/msw';
import { actionVersion, parseBuildVersionSpec } from './cli-release';
import { DepotCli } from './depot';
import type { DepotRun } from './depot';
import { UserError } from './errors';
import { CommandNotFound, exec } from './exec';
import { installCli } from './install-cli';

const BASE = 'https://releases.test/depot';
const MANIFEST = `${BASE}/manifest.json`;
const PLATFORM = `${process.platform}-${process.arch}`;
const OWN = actionVersion();
/** A release newer than the action's own, the manifest's latest. */
const NEWER = '9.1.0';
const TOKEN = 'depot-project-token-install-5a1e';

const server = useMswServer();
let requests: string[];
server.events.on('request:start', ({ request }) => requests.push(`${request.method} ${request.url}`));

let fixtures: string;
const tarballs: Record<string, Buffer> = {};
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A release tarball whose bin/depot writes its argv, its DEPOT_TOKEN and its PATH's first entry to $ARGS_FILE. */
function makeTarball(version: string): Buffer {
  const src = join(fixtures, version);
  mkdirSync(join(src, 'bin'), { recursive: true });
  const file = join(src, 'bin', 'depot');
  writeFileSync(
    file,
    `#!/bin/sh\nprintf 'depot ${version}|%s|%s|%s\\n' "$*" "$DEPOT_TOKEN" "\${PATH%%${delimiter}*}" > "$ARGS_FILE"\n`,
  );
  chmodSync(file, 0o755);
  const out = join(fixtures, `${version}.tar.gz`);
  execFileSync('tar', ['czf', out, '-C', src, 'bin']);
  return readFileSync(out);
}

beforeAll(() => {
  Object.assign(globalThis, {
    TEST_DOWNLOAD_TOOL_RETRY_MIN_SECONDS: 0,
    TEST_DOWNLOAD_TOOL_RETRY_MAX_SECONDS: 0,
  });
  fixtures = mkdtempSync(join(tmpdir(), 'install-cli-fixtures-'));
  for (const v of [OWN, NEWER]) tarballs[`depot-${v}-${PLATFORM}.tar.gz`] = makeTarball(v);
});
afterAll(() => rmSync(fixtures, { recursive: true, force: true }));

function manifest(versions: string[]) {
  const out: Record<string, Record<string, { url: string; sha256: string }>> = {};
  for (const v of versions) {
    const name = `depot-${v}-${PLATFORM}.tar.gz`;
    out[v] = { [PLATFORM]: { url: name, sha256: sha256(tarballs[name] as Buffer) } };
  }
  return { latest: NEWER, versions: out };
}

function serve(versions: string[] = [OWN, NEWER]) {
  server.use(
    http.get(MANIFEST, () => HttpResponse.json(manifest(versions))),
    http.get(`${BASE}/:file`, ({ params }) => {
      const body = tarballs[String(params.file)];
      return body ? new HttpResponse(new Uint8Array(body)) : new HttpResponse('not found', { status: 404 });
    }),
  );
}

let dir: string;
let toolCache: string;
let pathFile: string;
let argsFile: string;
let printed: string[];

beforeEach(() => {
  requests = [];
  printed = [];
  dir = mkdtempSync(join(tmpdir(), 'install-cli-'));
  toolCache = join(dir, 'tool-cache');
  mkdirSync(toolCache);
  mkdirSync(join(dir, 'temp'));
  pathFile = join(dir, 'path');
  writeFileSync(pathFile, '');
  argsFile = join(dir, 'args');
  vi.stubEnv('RUNNER_TOOL_CACHE', toolCache);
  vi.stubEnv('RUNNER_TEMP', join(dir, 'temp'));
  vi.stubEnv('GITHUB_PATH', pathFile);
  vi.stubEnv('PATH', process.env.PATH);
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    printed.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

const binOf = (version: string) => join(toolCache, 'depot', version, process.arch, 'bin');
const announced = (what: string) =>
  `depot CLI not on PATH: installing ${what} from ${MANIFEST} (no setup step needed)`;

function request(over: Partial<DepotRun> = {}): DepotRun {
  return {
    command: 'build',
    buildxArgs: ['--tag', 'localhost:5000/app:1'],
    depotArgs: [],
    positional: ['.'],
    resolution: { kind: 'token', token: TOKEN, source: 'oidc' },
    project: 'web',
    buildxFallback: false,
    install: { version: parseBuildVersionSpec(''), manifestUrl: MANIFEST },
    ...over,
  };
}

/** A DepotCli whose `depot` is nowhere on PATH, with the real exec and the real (lazily loaded) installer. */
const cliWithoutDepot = () =>
  new DepotCli({
    depot: 'depot-not-on-this-path',
    env: { ...process.env, ARGS_FILE: argsFile },
    exec: (command, args, opts) => exec(command, args, { ...opts, silent: true }),
  });

describe('installCli', () => {
  it("the default version: the action's own release, said in one line, added to PATH for later steps", async () => {
    serve();
    const got = await installCli({ version: parseBuildVersionSpec(''), manifestUrl: MANIFEST });
    expect(got).toMatchObject({ version: OWN, bin: binOf(OWN), fromCache: false });
    expect(printed[0]).toBe(announced(`${OWN} (this action's version)`));
    expect(printed).toContain('::group::Install depot');
    expect(readFileSync(pathFile, 'utf8').trim()).toBe(binOf(OWN));
    expect(process.env.PATH?.split(delimiter)[0]).toBe(binOf(OWN));
    expect(requests).toEqual([`GET ${MANIFEST}`, `GET ${BASE}/depot-${OWN}-${PLATFORM}.tar.gz`]);
  });

  it("a manifest without the action's own release: the latest, said so", async () => {
    serve([NEWER]);
    const got = await installCli({ version: parseBuildVersionSpec(''), manifestUrl: MANIFEST });
    expect(got.version).toBe(NEWER);
    expect(printed).toContain(
      `The manifest has no depot ${OWN} (this action's version): using the latest, ${NEWER}.`,
    );
  });

  it("the action's own release in the tool cache: no request at all", async () => {
    serve();
    await installCli({ version: parseBuildVersionSpec(''), manifestUrl: MANIFEST });
    server.resetHandlers(); // any request now fails the test (onUnhandledRequest: 'error')
    requests = [];
    const got = await installCli({ version: parseBuildVersionSpec(''), manifestUrl: MANIFEST });
    expect(got).toMatchObject({ version: OWN, fromCache: true });
    expect(requests).toEqual([]);
  });

  it.each([
    ['latest', NEWER],
    ['9.x', NEWER],
    [OWN, OWN],
  ])('version %s installs %s', async (spec, want) => {
    serve();
    const got = await installCli({ version: parseBuildVersionSpec(spec), manifestUrl: MANIFEST });
    expect(got.version).toBe(want);
    expect(printed[0]).toBe(announced(spec));
  });
});

describe('DepotCli: no depot on PATH', () => {
  it('installs it, then runs the installed CLI with the same argv, the token in its env, its bin first on PATH', async () => {
    serve();
    const result = await cliWithoutDepot().run(request());
    expect(result).toEqual({ via: 'depot', exitCode: 0 });
    expect(readFileSync(argsFile, 'utf8').trim()).toBe(
      `depot ${OWN}|build --tag localhost:5000/app:1 --project web .|${TOKEN}|${binOf(OWN)}`,
    );
    expect(printed).toContain(announced(`${OWN} (this action's version)`));
    expect(printed).toContain('depot build --tag localhost:5000/app:1 --project web .');
    expect(printed.join('\n')).not.toContain(TOKEN);
    expect(readdirSync(join(dir, 'temp'))).toEqual([]);
  });

  it('the tool cache warm: runs the cached CLI with no request', async () => {
    serve();
    await cliWithoutDepot().run(request());
    server.resetHandlers();
    requests = [];
    rmSync(argsFile);
    await cliWithoutDepot().run(request());
    expect(requests).toEqual([]);
    expect(readFileSync(argsFile, 'utf8')).toContain(`depot ${OWN}|build`);
  });

  it('an install failure fails the step in one line; nothing runs', async () => {
    server.use(http.get(MANIFEST, () => new HttpResponse('gone', { status: 404 })));
    const err: unknown = await cliWithoutDepot()
      .run(request())
      .catch((e: unknown) => e);
    expect(err).toEqual(
      new UserError(
        `The depot CLI is not on PATH and could not be installed: Cannot read the depot release manifest at ${MANIFEST}: HTTP 404. Check \`manifest-url\` (or DEPOT_MANIFEST_URL) and that the release exists.`,
      ),
    );
    expect((err as Error).message).not.toContain('\n');
  });

  it('an install failure with buildx-fallback: plain docker buildx, said so in a warning', async () => {
    server.use(http.get(MANIFEST, () => new HttpResponse('gone', { status: 404 })));
    const ran: string[][] = [];
    const cli = new DepotCli({
      env: { PATH: '/usr/bin' },
      exec: async (command, args) => {
        if (command === 'depot') throw new CommandNotFound('depot');
        ran.push([command, ...args]);
        return { exitCode: 0, stdout: '', lastStderrLine: '' };
      },
    });
    const result = await cli.run(request({ buildxFallback: true }));
    expect(result).toEqual({ via: 'buildx', exitCode: 0 });
    expect(ran).toEqual([['docker', 'buildx', 'build', '--tag', 'localhost:5000/app:1', '.']]);
    expect(printed.filter((l) => l.startsWith('::warning::'))).toEqual([
      `::warning::The depot CLI is not on PATH and could not be installed (Cannot read the depot release manifest at ${MANIFEST}: HTTP 404. Check \`manifest-url\` (or DEPOT_MANIFEST_URL) and that the release exists.): building with plain docker buildx (buildx-fallback).`,
    ]);
  });
});
