// Which bundle a test runs. `npm test` runs the vitest suites with DEPOT_TEST_DIST_CHECKED=1 only after
// `npm run check-dist` found dist/ equal to a fresh build: then dist/<name>/index.js is what the tests run. Any other
// run (`npx vitest run actions/build-push`, one e2e file, the bench) builds the bundles it needs from the sources
// with scripts/build.ts into a temp dir and runs those, so a stale dist/ never passes a test. The vitest configs'
// global setup (bundles-setup.ts) makes one such dir per vitest run (DEPOT_TEST_BUNDLES), where each bundle is built
// once, by whichever test file needs it first; outside vitest the dir is this process's own.
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { build, bundleEntries } from '../../scripts/build';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** Set by scripts/test.ts for the vitest runs after check-dist passed. */
export const DIST_CHECKED_ENV = 'DEPOT_TEST_DIST_CHECKED';
/** The vitest run's dir of fresh bundles (bundles-setup.ts). */
export const BUNDLES_ENV = 'DEPOT_TEST_BUNDLES';

/** A composite step's or `runs.main`'s path to a bundle, as action.yml writes it. */
const BUNDLE_REF = /\.\.\/\.\.\/dist\/([a-z-]+)\/index\.js/g;

export function distChecked(): boolean {
  return process.env[DIST_CHECKED_ENV] === '1';
}

let ownDir: string | undefined;

/** Where fresh bundles go: the vitest run's dir, else one for this process (removed when it exits). */
function freshRoot(): string {
  const shared = process.env[BUNDLES_ENV];
  if (shared) return shared;
  if (!ownDir) {
    const dir = mkdtempSync(join(tmpdir(), 'depot-bundles-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    ownDir = dir;
  }
  return ownDir;
}

/** The bundle `name` (an action's, or `cli`) to run: dist/<name>/index.js when checked, else a fresh build. */
export function bundlePath(name: string): string {
  if (distChecked()) return join(ROOT, 'dist', name, 'index.js');
  if (!bundleEntries().some((e) => e.name === name))
    throw new Error(`scripts/build.ts builds no bundle ${name}`);
  const root = freshRoot();
  const dir = join(root, 'dist', name);
  if (!existsSync(join(dir, 'index.js'))) {
    // Built aside, then renamed into place: a test file in another worker sees a complete bundle or none.
    mkdirSync(join(root, 'dist'), { recursive: true });
    const work = mkdtempSync(join(root, '.build-'));
    try {
      build(work, [name]);
      try {
        renameSync(join(work, name), dir);
      } catch (err: unknown) {
        if (!existsSync(join(dir, 'index.js'))) throw err; // another worker built it first
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  return join(dir, 'index.js');
}

/** Builds the bundles now (for a beforeAll: the build's seconds are not billed to the first test). */
export function prepareBundles(names: string[]): void {
  for (const name of names) bundlePath(name);
}

/**
 * The folder to run for the action in `actionDir`. An action of this repository (actions/<name>) whose action.yml
 * points at `../../dist/<bundle>/index.js` runs from a copy of its action.yml beside the fresh bundles, so those
 * paths (`runs.main`, `runs.post`, composite steps) lead to them; with a checked dist, or for any other folder, the
 * folder itself.
 */
export function runnableAction(actionDir: string): string {
  const from = relative(join(ROOT, 'actions'), resolve(actionDir));
  if (distChecked() || from === '' || from.includes('/') || from.startsWith('..')) return actionDir;
  const yml = readFileSync(join(actionDir, 'action.yml'), 'utf8');
  const bundles = [...yml.matchAll(BUNDLE_REF)].map((m) => m[1] as string);
  if (bundles.length === 0) return actionDir;
  prepareBundles([...new Set(bundles)]);
  const staged = join(freshRoot(), 'actions', basename(actionDir));
  const file = join(staged, 'action.yml');
  if (!existsSync(file) || readFileSync(file, 'utf8') !== yml) {
    mkdirSync(staged, { recursive: true });
    const tmp = join(dirname(file), `.action.yml.${process.pid}`);
    writeFileSync(tmp, yml);
    renameSync(tmp, file);
  }
  return staged;
}

/**
 * A tree written by `npm run release:actions` (copied from dist/) with the fresh bundles put in place of dist's,
 * unless dist is checked: `<name>-action/dist/index.js` is the action's own bundle, `dist/<bundle>/index.js` another.
 */
export function freshenReleaseTree(outDir: string, names: string[]): void {
  if (distChecked()) return;
  for (const name of names) {
    const tree = join(outDir, `${name}-action`);
    const yml = readFileSync(join(tree, 'action.yml'), 'utf8');
    for (const m of yml.matchAll(/\bdist\/(?:([a-z-]+)\/)?index\.js/g)) {
      const into = join(tree, 'dist', m[1] ?? '');
      cpSync(dirname(bundlePath(m[1] ?? name)), into, { recursive: true, force: true });
    }
  }
}
