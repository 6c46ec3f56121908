// Bundles every JS action (actions/<name>/src/main.ts) and the CLI (cli/src/main.ts) with @vercel/ncc into
// <out>/<name>/index.js, with the licenses of what each bundle includes. Usage: tsx scripts/build.ts [--out DIR]
// No build cache: ncc's lives in ~/.cache/ncc, shared by every checkout and build on the machine, and one check-dist
// run after concurrent builds produced a licenses.txt that a cold build does not; a cold build every time is the one
// check-dist can trust (about 25 s for all bundles).
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
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface BundleEntry {
  name: string;
  entry: string;
}

const root = resolve(import.meta.dirname, '..');

export function bundleEntries(): BundleEntry[] {
  const entries: BundleEntry[] = [];
  for (const name of readdirSync(join(root, 'actions')).sort()) {
    const entry = join('actions', name, 'src', 'main.ts');
    if (existsSync(join(root, entry))) entries.push({ name, entry });
  }
  if (existsSync(join(root, 'cli/src/main.ts'))) entries.push({ name: 'cli', entry: 'cli/src/main.ts' });
  return entries;
}

/** A package a bundle holds code of, with what its license says. */
export interface BundledPackage {
  name: string;
  version: string;
  /** package.json's `license`. */
  license: string;
  /** The package's license file (LICENSE, LICENCE.md, COPYING, ...), or a line saying it has none. */
  text: string;
}

/**
 * One ncc bundle of `entry` (relative to the repository) into `out`: index.js and its assets, and licenses.txt with
 * the license of every package the bundle holds code of. That list comes from webpack's stats of the build, not from
 * ncc's --license: its plugin skips the modules webpack concatenated (every ES module package, @actions/core among
 * them), so it listed barely half of what the bundles hold.
 */
export function nccBuild(entry: string, out: string): BundledPackage[] {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'ncc-stats-'));
  try {
    const stats = join(work, 'stats.json');
    execFileSync(
      join(root, 'node_modules', '.bin', 'ncc'),
      [
        'build',
        entry,
        '--out',
        out,
        '--stats-out',
        stats,
        '--quiet',
        '--no-cache',
        '--transpile-only',
        '--target',
        'es2022',
      ],
      {
        cwd: root,
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    const packages = bundledPackages(JSON.parse(readFileSync(stats, 'utf8')) as WebpackStats);
    writeFileSync(join(out, 'licenses.txt'), licensesText(packages));
    return packages;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

interface WebpackModule {
  identifier?: string;
  modules?: WebpackModule[];
}
interface WebpackStats {
  modules?: WebpackModule[];
}

/** The packages (by directory under node_modules, so two versions of one are two) whose modules a build holds. */
export function bundledPackages(stats: WebpackStats): BundledPackage[] {
  const dirs = new Set<string>();
  const visit = (modules: WebpackModule[] | undefined) => {
    for (const m of modules ?? []) {
      // `loader!loader!/path/file.js?query`, `json|/path/file.json`: the absolute path after the last `!`.
      const last = (m.identifier ?? '').split('!').pop() ?? '';
      const file = last.includes('/') ? (last.slice(last.indexOf('/')).split(/[?|]/)[0] ?? '') : '';
      const at = file.lastIndexOf('/node_modules/');
      if (at >= 0) {
        const parts = file.slice(at + '/node_modules/'.length).split('/');
        const name = parts[0]?.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? '');
        dirs.add(file.slice(0, at + '/node_modules/'.length) + name);
      }
      visit(m.modules);
    }
  };
  visit(stats.modules);
  const packages = [...dirs].map((dir) => packageLicense(dir));
  return packages.sort(byNameAndVersion);
}

/** Code-point order, the same on every machine (localeCompare follows the locale). */
function byNameAndVersion(a: BundledPackage, b: BundledPackage): number {
  const x = `${a.name}\0${a.version}`;
  const y = `${b.name}\0${b.version}`;
  return x < y ? -1 : x > y ? 1 : 0;
}

function packageLicense(dir: string): BundledPackage {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    name?: string;
    version?: string;
    license?: string | { type?: string };
  };
  const license = typeof pkg.license === 'object' ? (pkg.license.type ?? '') : (pkg.license ?? '');
  const files = readdirSync(dir).filter((f) => /^(licen[cs]e|copying)/i.test(f));
  const file = files.sort((a, b) => a.length - b.length || a.localeCompare(b))[0];
  const text = file
    ? readFileSync(join(dir, file), 'utf8').replace(/\r\n/g, '\n').trim()
    : `(the package has no license file; its package.json says ${license || 'nothing'})`;
  return { name: pkg.name ?? dir, version: pkg.version ?? '', license, text };
}

/** licenses.txt: each package once (name and version), its license, the text; in name order. */
export function licensesText(packages: BundledPackage[]): string {
  const seen = new Map<string, BundledPackage>();
  for (const p of packages) seen.set(`${p.name}@${p.version}`, p);
  return [...seen.values()]
    .sort(byNameAndVersion)
    .map((p) => `${p.name} ${p.version}\n${p.license}\n\n${p.text}\n`)
    .join('\n----------------------------------------------------------------------\n\n');
}

export function build(outDir: string, only: string[] = []): void {
  const entries = bundleEntries().filter((e) => only.length === 0 || only.includes(e.name));
  for (const { name, entry } of entries) {
    const out = join(outDir, name);
    nccBuild(entry, out);
    if (name === 'cli') {
      const file = join(out, 'index.js');
      const code = readFileSync(file, 'utf8');
      if (!code.startsWith('#!')) writeFileSync(file, `#!/usr/bin/env node\n${code}`);
      chmodSync(file, 0o755);
    }
    console.log(`built ${out}/index.js`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // tsx scripts/build.ts [--out DIR] [NAME...]: NAME limits the build to those bundles (e.g. `cli`).
  const args = process.argv.slice(2);
  const i = args.indexOf('--out');
  const out = i >= 0 ? (args[i + 1] ?? 'dist') : 'dist';
  const names = args.filter((_, j) => i < 0 || (j !== i && j !== i + 1));
  build(resolve(root, out), names);
}
