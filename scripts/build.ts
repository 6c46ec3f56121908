// Bundles every JS action (actions/<name>/src/main.ts) and the CLI (cli/src/main.ts) with @vercel/ncc into
// <out>/<name>/index.js, with the licenses of what each bundle includes. Usage: tsx scripts/build.ts [--out DIR]
// No build cache: ncc's lives in ~/.cache/ncc, shared by every checkout and build on the machine, and one check-dist
// run after concurrent builds produced a licenses.txt that a cold build does not; a cold build every time is the one
// check-dist can trust (about 25 s for all bundles).
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** One ncc bundle of `entry` (relative to the repository) into `out`, with licenses.txt: index.js and its assets. */
export function nccBuild(entry: string, out: string): void {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  execFileSync(
    join(root, 'node_modules', '.bin', 'ncc'),
    [
      'build',
      entry,
      '--out',
      out,
      '--license',
      'licenses.txt',
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
