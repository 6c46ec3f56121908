// `npm run release:actions [-- --out DIR]` (default release/actions): one standalone repository tree per action,
// publishable as <owner>/<name>-action and used as `uses: <owner>/<name>-action@v1`: action.yml at its root
// pointing at its own bundle, the bundle (and, for the composite `use`, the setup bundle it runs), README, LICENSE.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repositoryName } from '../shared/identity';
import { actionTable } from './readme';

const root = resolve(import.meta.dirname, '..');

export function releaseActions(outDir: string): string[] {
  const repo = repositoryName();
  const owner = repo.split('/')[0] as string;
  const written: string[] = [];
  rmSync(outDir, { recursive: true, force: true });
  for (const name of readdirSync(join(root, 'actions')).sort()) {
    const src = join(root, 'actions', name, 'action.yml');
    if (!existsSync(src)) continue;
    const tree = join(outDir, `${name}-action`);
    mkdirSync(tree, { recursive: true });
    let yml = readFileSync(src, 'utf8');
    // main/post point at the bundle inside the tree; a composite step's `$GITHUB_ACTION_PATH/../../dist/setup/…`
    // becomes `$GITHUB_ACTION_PATH/dist/setup/…`, with that bundle copied in.
    yml = yml.replace(/\.\.\/\.\.\/dist\/([a-z-]+)\/index\.js/g, (_m, bundle: string) => {
      const from = join(root, 'dist', bundle);
      if (!existsSync(join(from, 'index.js')))
        throw new Error(`dist/${bundle}/index.js is missing: run npm run build`);
      cpSync(from, join(tree, bundle === name ? 'dist' : join('dist', bundle)), { recursive: true });
      return bundle === name ? 'dist/index.js' : `dist/${bundle}/index.js`;
    });
    writeFileSync(join(tree, 'action.yml'), yml);
    cpSync(join(root, 'LICENSE'), join(tree, 'LICENSE'));
    writeFileSync(join(tree, 'README.md'), readme(name, `${owner}/${name}-action`, repo));
    written.push(tree);
  }
  return written;
}

function readme(name: string, standalone: string, monorepo: string): string {
  return [
    `# ${standalone}`,
    '',
    `The \`${name}\` action of [${monorepo}](https://github.com/${monorepo}), published on its own.`,
    '',
    '```yaml',
    `- uses: ${standalone}@v1`,
    '```',
    '',
    `It is the same as \`uses: ${monorepo}/actions/${name}@v1\`.`,
    '',
    actionTable(name),
    '',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--out');
  const out = resolve(root, i >= 0 ? (args[i + 1] ?? 'release/actions') : 'release/actions');
  try {
    for (const tree of releaseActions(out)) console.log(`wrote ${tree}`);
  } catch (err: unknown) {
    console.error(`release:actions: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
