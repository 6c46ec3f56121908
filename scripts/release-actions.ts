// `npm run release:actions [-- --out DIR] [-- --dist DIR]` (default release/actions, bundles from dist/): the
// standalone repository trees the suite publishes besides this monorepo.
//
// - One per action (every actions/<name> with an action.yml: setup, use, build-push, bake, monorepo-plan), published
//   as <owner>/<name>-action and used as `uses: <owner>/<name>-action@v1`: action.yml at its root pointing at its own
//   bundle, the bundle (and, for the composite `use`, the setup bundle it runs), README, LICENSE.
// - One for the reusable workflow, `build-monorepo-workflow/`, published as <owner>/build-monorepo-workflow: GitHub
//   runs a reusable workflow only from a repository's .github/workflows/, so the tree holds
//   .github/workflows/build-monorepo.yml (called as `uses:
//   <owner>/build-monorepo-workflow/.github/workflows/build-monorepo.yml@v1`) with every `uses:` of our actions
//   pointing at the standalone action repositories above (`<owner>/<name>-action@v1`), plus README and LICENSE.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repositoryName } from '../shared/identity';
import { actionTable, REUSABLE_WORKFLOWS, workflowTable } from './readme';

const root = resolve(import.meta.dirname, '..');

export interface ReleaseOptions {
  /** Where the bundles are (default dist/). */
  distDir?: string;
}

export function releaseActions(outDir: string, options: ReleaseOptions = {}): string[] {
  const distDir = options.distDir ?? join(root, 'dist');
  const repo = repositoryName();
  const owner = repo.split('/')[0] as string;
  const written: string[] = [];
  rmSync(outDir, { recursive: true, force: true });
  for (const name of actionNames()) {
    const src = join(root, 'actions', name, 'action.yml');
    const tree = join(outDir, `${name}-action`);
    mkdirSync(tree, { recursive: true });
    let yml = readFileSync(src, 'utf8');
    // main/post point at the bundle inside the tree; a composite step's `$GITHUB_ACTION_PATH/../../dist/setup/…`
    // becomes `$GITHUB_ACTION_PATH/dist/setup/…`, with that bundle copied in.
    yml = yml.replace(/\.\.\/\.\.\/dist\/([a-z-]+)\/index\.js/g, (_m, bundle: string) => {
      const from = join(distDir, bundle);
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
  for (const { file, standalone: treeName } of REUSABLE_WORKFLOWS) {
    const tree = join(outDir, treeName);
    const dir = join(tree, '.github', 'workflows');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, file),
      standaloneWorkflow(readFileSync(join(root, '.github', 'workflows', file), 'utf8')),
    );
    cpSync(join(root, 'LICENSE'), join(tree, 'LICENSE'));
    writeFileSync(join(tree, 'README.md'), workflowReadme(file, `${owner}/${treeName}`, repo));
    written.push(tree);
  }
  return written;
}

function actionNames(): string[] {
  return readdirSync(join(root, 'actions'))
    .sort()
    .filter((name) => existsSync(join(root, 'actions', name, 'action.yml')));
}

/**
 * A reusable workflow of this repository as its standalone repository holds it: `<repo>/actions/<name>@v1` becomes
 * `<owner>/<name>-action@v1`, and `<repo>/.github/workflows/<file>@v1` (in its comments) the standalone workflow
 * repository's. Throws when a reference to this repository is left, or names an action it does not release.
 */
export function standaloneWorkflow(text: string): string {
  const repo = repositoryName();
  const owner = repo.split('/')[0] as string;
  const names = new Set(actionNames());
  const r = repo.replace(/[.]/g, '\\.');
  let out = text.replace(new RegExp(`${r}/actions/([a-z0-9-]+)@v1\\b`, 'g'), (_m, name: string) => {
    if (!names.has(name))
      throw new Error(`the workflow uses actions/${name}, which has no action.yml to release`);
    return `${owner}/${name}-action@v1`;
  });
  for (const { file, standalone: tree } of REUSABLE_WORKFLOWS) {
    out = out.replaceAll(
      `${repo}/.github/workflows/${file}@v1`,
      `${owner}/${tree}/.github/workflows/${file}@v1`,
    );
  }
  const left = new RegExp(`${r}/[^\\s'"]*`).exec(out);
  if (left) throw new Error(`the released workflow still names ${left[0]}`);
  return out;
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

function workflowReadme(file: string, standalone: string, monorepo: string): string {
  const owner = standalone.split('/')[0] as string;
  return [
    `# ${standalone}`,
    '',
    `The reusable workflow \`${file}\` of [${monorepo}](https://github.com/${monorepo}), published on its own. Its`,
    `steps use the standalone action repositories (\`${owner}/<name>-action@v1\`).`,
    '',
    '```yaml',
    'jobs:',
    '  images:',
    `    uses: ${standalone}/.github/workflows/${file}@v1`,
    '    permissions:',
    '      contents: read',
    '      id-token: write',
    '    with:',
    '      images: |',
    '        services/api',
    '        services/web',
    '      project: web',
    '      broker-url: https://depot-broker.example.com',
    '```',
    '',
    `It is the same as \`uses: ${monorepo}/.github/workflows/${file}@v1\`; the README of ${monorepo} ("Monorepos")`,
    'says how images are chosen and what the broker needs.',
    '',
    workflowTable(file.replace(/\.yml$/, '')),
    '',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const out = resolve(root, flag('--out') ?? 'release/actions');
  const dist = flag('--dist');
  try {
    for (const tree of releaseActions(out, dist ? { distDir: resolve(dist) } : {}))
      console.log(`wrote ${tree}`);
  } catch (err: unknown) {
    console.error(`release:actions: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
