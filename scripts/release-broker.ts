// `npm run release:broker [-- --out DIR (default release/broker)] [--image REF [--push] [--base IMAGE]]`: the OIDC broker's release for the
// version in package.json. One tarball per arch (depot-broker-<V>-linux-x64.tar.gz, depot-broker-<V>-linux-arm64.tar.gz),
// each holding the bundled broker (lib/index.js, oidc-broker/src/main.ts bundled with ncc), pino's worker files
// bundled beside it (lib/workers/), a launcher (bin/depot-broker) and Node 24 (libexec/node, the same npm packages
// and cache as release:cli), then SHA256SUMS. No native module ships: on Node 24 the store uses node:sqlite, and the
// bundle loads better-sqlite3 (Node 20 only) through createRequire, which ncc does not follow; the build fails if a
// `.node` file or a require of better-sqlite3's binding lands in it.
// --image REF: then builds oidc-broker/Dockerfile for linux/amd64 and linux/arm64 from those tarballs with the
// engine's docker buildx (into the local image store, or pushed with --push); --base IMAGE sets its BASE_IMAGE
// (default debian:bookworm-slim).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { licensesText, nccBuild } from './build';
import {
  fail,
  launcher,
  nodeBinary,
  packageVersion,
  RELEASE_CACHE,
  ReleaseError,
  releaseNodeVersion,
  sha256,
  tarball,
  TARGETS,
} from './release-cli';
import type { Target } from './release-cli';

const root = resolve(import.meta.dirname, '..');

export const DOCKERFILE = join(root, 'oidc-broker', 'Dockerfile');
export const PLATFORMS = ['linux/amd64', 'linux/arm64'];

/**
 * pino starts its transports in worker threads from files it finds beside its own sources; in a bundle those are
 * gone, so each is bundled on its own (lib/workers/<name>.cjs) and named in `globalThis.__bundlerPathsOverrides`,
 * which pino and thread-stream read when they start a worker.
 */
export const WORKERS: Record<string, { entry: string; file: string }> = {
  'thread-stream-worker': {
    entry: 'node_modules/thread-stream/lib/worker.js',
    file: 'thread-stream-worker.cjs',
  },
  'pino-worker': { entry: 'node_modules/pino/lib/worker.js', file: 'pino-worker.cjs' },
  'pino/file': { entry: 'node_modules/pino/file.js', file: 'pino-file.cjs' },
};

/** The line put at the top of lib/index.js (after its imports, which are Node's own modules) naming the workers. */
export function workerPrelude(): string {
  const paths = Object.entries(WORKERS)
    .map(
      ([key, w]) => `${JSON.stringify(key)}: import.meta.dirname + ${JSON.stringify(`/workers/${w.file}`)}`,
    )
    .join(', ');
  return `globalThis.__bundlerPathsOverrides = { ...globalThis.__bundlerPathsOverrides, ${paths} };`;
}

/**
 * The broker's V8 flags, given by its launcher, by `npm run broker` (package.json, the sources under tsx; a test keeps
 * the two the same) and by `npm run bench:broker` to the instances it measures: a young generation of 16 MiB a
 * semi-space from the start, grown to 32 at most. Node 24 starts it at 1 MiB and lets it grow by its own measure (to
 * 64 MiB a semi-space on a host with 24 GiB). An exchange allocates about 75 KiB, so with the small one the objects
 * of the exchanges in flight live through two scavenges and are promoted, the old generation fills up within seconds,
 * and each mark-compact's concurrent marking takes both cores of a small host for tens of milliseconds: the open
 * loop's tail (ARCHITECTURE.md, "The tail's episodes are the mark-compact"). Measured: the p99 under 32 connections
 * 10.7-12.3 ms against 13-19.2, the same throughput; the floor alone or the cap alone gained less.
 * V8's flags are process-wide: the broker's two worker threads start after putting them back to V8's own sizing
 * (oidc-broker/src/worker-heap.ts), so the flags cost no memory there (peak resident memory under the bench about
 * 220 MiB, against 257 with Node's own sizing everywhere and 293-300 with the flags in the workers too).
 */
export const BROKER_NODE_FLAGS = ['--min-semi-space-size=16', '--max-semi-space-size=32'] as const;

/**
 * bin/depot-broker: execs the bundled Node on the bundle, so that the broker itself gets SIGTERM (PID 1 in the
 * image). That Node is a glibc build: where its loader is missing (Alpine) a `node` >= 24 from PATH runs it instead;
 * with neither, one line says what to do. Either Node gets BROKER_NODE_FLAGS.
 */
export function brokerLauncher(loader: string): string {
  return launcher(loader, {
    name: 'depot-broker',
    node: 24,
    otherwise: "install Node.js 24 or run the broker's image",
    flags: BROKER_NODE_FLAGS,
  });
}

/** Files of a bundle directory that must not ship: native modules, and any require of better-sqlite3. */
function checkBundle(dir: string): void {
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)],
    );
  for (const file of walk(dir)) {
    if (file.endsWith('.node'))
      fail(`The broker bundle holds a native module (${basename(file)}): none may ship.`);
    if (file.endsWith('.js') || file.endsWith('.cjs')) {
      const code = readFileSync(file, 'utf8');
      if (/better_sqlite3\.node|require\(["']bindings["']\)/.test(code)) {
        fail(
          `The broker bundle ${basename(file)} loads better-sqlite3's native binding: it must only use node:sqlite.`,
        );
      }
    }
  }
}

/**
 * A bundle of `entry` (the broker's main.ts; a test's own entry) in `lib`: index.js, package.json, licenses.txt and
 * workers/, checked for native modules.
 */
export function bundle(entry: string, lib: string, work: string): void {
  const main = join(work, 'ncc-main');
  const packages = nccBuild(entry, main);
  mkdirSync(join(lib, 'workers'), { recursive: true });
  const code = readFileSync(join(main, 'index.js'), 'utf8').split('\n');
  // After the leading `import ... from "module"` lines: they only bind Node's own modules.
  let at = 0;
  while (at < code.length && /^import .* from "[a-z:_/]+";$/.test(code[at] ?? '')) at++;
  code.splice(at, 0, workerPrelude());
  writeFileSync(join(lib, 'index.js'), code.join('\n'));
  copyFileSync(join(main, 'package.json'), join(lib, 'package.json'));
  for (const w of Object.values(WORKERS)) {
    const out = join(work, `ncc-${w.file}`);
    packages.push(...nccBuild(w.entry, out));
    // Only index.js: the files ncc copies beside it are what pino would start a transport from inside a worker,
    // which it never does.
    copyFileSync(join(out, 'index.js'), join(lib, 'workers', w.file));
  }
  // Every package of the bundle and its workers, once each (by name and version).
  writeFileSync(join(lib, 'licenses.txt'), licensesText(packages));
  checkBundle(lib);
}

export interface BrokerRelease {
  version: string;
  out: string;
  /** Tarball path per target key (linux-x64, linux-arm64). */
  tarballs: Record<string, string>;
}

export function releaseBroker(opts: { out: string }): BrokerRelease {
  const version = packageVersion();
  const nodeVersion = releaseNodeVersion();
  const work = mkdtempSync(join(tmpdir(), 'depot-broker-release-'));
  try {
    const lib = join(work, 'lib');
    bundle('oidc-broker/src/main.ts', lib, work);
    mkdirSync(opts.out, { recursive: true });
    const sums: string[] = [];
    const tarballs: Record<string, string> = {};
    for (const target of TARGETS) {
      const name = `depot-broker-${version}-${target.key}`;
      const dir = join(work, name);
      for (const sub of ['bin', 'libexec']) mkdirSync(join(dir, sub), { recursive: true });
      execFileSync('cp', ['-R', lib, join(dir, 'lib')]);
      if (existsSync(join(root, 'LICENSE'))) copyFileSync(join(root, 'LICENSE'), join(dir, 'LICENSE'));
      copyFileSync(nodeBinary(target, nodeVersion, RELEASE_CACHE), join(dir, 'libexec', 'node'));
      chmodSync(join(dir, 'libexec', 'node'), 0o755);
      writeFileSync(join(dir, 'bin', 'depot-broker'), brokerLauncher(target.loader), { mode: 0o755 });
      const file = join(opts.out, `${name}.tar.gz`);
      tarball(work, name, file);
      const sum = sha256(file);
      sums.push(`${sum}  ${basename(file)}`);
      tarballs[target.key] = file;
      console.log(`wrote ${file} (sha256 ${sum})`);
    }
    writeFileSync(join(opts.out, 'SHA256SUMS'), `${sums.join('\n')}\n`);
    console.log(`wrote ${join(opts.out, 'SHA256SUMS')}`);
    return { version, out: opts.out, tarballs };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The Docker platform (linux/amd64) of a release target (linux-x64). */
export function platformOf(target: Target): string {
  return target.key === 'linux-x64' ? 'linux/amd64' : 'linux/arm64';
}

/** `docker buildx build` of oidc-broker/Dockerfile from a release's tarballs, for both platforms. */
export function buildImage(
  release: Pick<BrokerRelease, 'version' | 'out'>,
  opts: { image: string; push: boolean; base?: string },
): void {
  const args = [
    'buildx',
    'build',
    '--platform',
    PLATFORMS.join(','),
    '--file',
    DOCKERFILE,
    '--build-arg',
    `VERSION=${release.version}`,
    ...(opts.base ? ['--build-arg', `BASE_IMAGE=${opts.base}`] : []),
    '--tag',
    opts.image,
    opts.push ? '--push' : '--load',
    release.out,
  ];
  console.log(`docker ${args.join(' ')}`);
  const r = spawnSync('docker', args, { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
  if (r.error)
    fail('docker is not installed or not on PATH: run scripts/engine.sh up (or install Docker with buildx).');
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    const last = r.stderr.trim().split('\n').pop() ?? '';
    fail(`docker buildx build of ${opts.image} failed: ${last}`);
  }
  console.log(`built ${opts.image} for ${PLATFORMS.join(', ')}${opts.push ? ' and pushed it' : ''}`);
}

export interface Options {
  out: string;
  image?: string;
  push: boolean;
  base?: string;
}

export function parseCli(argv: string[]): Options {
  const opts: Options = { out: resolve(root, 'release', 'broker'), push: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--push') {
      opts.push = true;
      continue;
    }
    if (flag !== '--out' && flag !== '--image' && flag !== '--base') {
      fail(`Unknown argument ${flag}: use --out DIR, --image REF, --push, --base IMAGE.`);
    }
    const value = argv[++i];
    if (value === undefined || value.startsWith('--')) fail(`${flag} needs a value.`);
    if (flag === '--out') opts.out = resolve(value);
    else if (flag === '--image') opts.image = value;
    else opts.base = value;
  }
  if (opts.push && !opts.image) fail('--push needs --image REF: the image to push.');
  if (opts.base && !opts.image) fail('--base needs --image REF: it is the base of the image.');
  return opts;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const opts = parseCli(process.argv.slice(2));
    const release = releaseBroker({ out: opts.out });
    if (opts.image) buildImage(release, { image: opts.image, push: opts.push, base: opts.base });
  } catch (err: unknown) {
    console.error(err instanceof ReleaseError ? err.message : `release:broker failed: ${String(err)}`);
    process.exit(1);
  }
}
