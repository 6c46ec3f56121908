// scripts/release-actions.ts: a standalone tree per action (monorepo-plan included) and one for the reusable
// workflow, whose workflow parses, passes actionlint, and names only the standalone action repositories. The bundles
// are stand-ins here (the trees copy them as they are); test/e2e/workflows.e2e.test.ts runs real ones.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { FileProvider } from '@actions/workflow-parser/workflows/file-provider';
import { repositoryName } from '../shared/identity';
import { releaseActions, standaloneWorkflow } from './release-actions';
import {
  actionInputFindings,
  actionlintFindings,
  inputTypeFindings,
  parserFindings,
  pinningFindings,
  stepUses,
} from './workflow-checks';
import type { WorkflowFile, WorkflowYaml } from './workflow-checks';

const root = resolve(import.meta.dirname, '..');
const repo = repositoryName();
const owner = repo.split('/')[0] as string;
const actions = readdirSync(join(root, 'actions'))
  .filter((n) => existsSync(join(root, 'actions', n, 'action.yml')))
  .sort();

/** A dist/ of stand-in bundles: one index.js per bundle an action.yml names. */
function fakeDist(): string {
  const dist = mkdtempSync(join(tmpdir(), 'release-dist-'));
  for (const name of actions) {
    const yml = readFileSync(join(root, 'actions', name, 'action.yml'), 'utf8');
    for (const m of yml.matchAll(/\.\.\/\.\.\/dist\/([a-z-]+)\/index\.js/g)) {
      mkdirSync(join(dist, m[1] as string), { recursive: true });
      writeFileSync(join(dist, m[1] as string, 'index.js'), `// stand-in for dist/${m[1]}\n`);
    }
  }
  return dist;
}

let out: string;
let workflow: WorkflowFile;

beforeAll(() => {
  out = join(mkdtempSync(join(tmpdir(), 'release-actions-')), 'release');
  releaseActions(out, { distDir: fakeDist() });
  const path = join(out, 'build-monorepo-workflow', '.github', 'workflows', 'build-monorepo.yml');
  workflow = {
    path: 'build-monorepo-workflow/.github/workflows/build-monorepo.yml',
    content: readFileSync(path, 'utf8'),
  };
});

/** `<owner>/<name>-action@v1` → the released tree's action.yml. */
const standaloneActionYml = (uses: string): string | undefined => {
  const m = new RegExp(`^${owner}/([a-z0-9-]+)-action@v1$`).exec(uses);
  return m ? join(out, `${m[1]}-action`, 'action.yml') : undefined;
};

describe('the action trees', () => {
  it('writes one per action, monorepo-plan included, each with its bundle, README and LICENSE', () => {
    expect(actions).toContain('monorepo-plan');
    for (const name of actions) {
      const tree = join(out, `${name}-action`);
      for (const f of ['action.yml', 'README.md', 'LICENSE'])
        expect(existsSync(join(tree, f)), `${name}: ${f}`).toBe(true);
      expect(readFileSync(join(tree, 'action.yml'), 'utf8')).not.toMatch(/\.\.\/\.\.\//);
    }
    const plan = parse(readFileSync(join(out, 'monorepo-plan-action', 'action.yml'), 'utf8')) as {
      runs: { main: string };
    };
    expect(plan.runs.main).toBe('dist/index.js');
    expect(readFileSync(join(out, 'monorepo-plan-action', 'dist', 'index.js'), 'utf8')).toMatch(
      /dist\/monorepo-plan/,
    );
  });

  it('fails in one line naming the fix when a bundle is missing', () => {
    expect(() =>
      releaseActions(join(out, '..', 'again'), { distDir: mkdtempSync(join(tmpdir(), 'empty-dist-')) }),
    ).toThrow(/^dist\/[a-z-]+\/index\.js is missing: run npm run build$/);
  });
});

describe('the reusable workflow tree (build-monorepo-workflow)', () => {
  it('holds .github/workflows/build-monorepo.yml, README and LICENSE', () => {
    const tree = join(out, 'build-monorepo-workflow');
    expect(readdirSync(tree).sort()).toEqual(['.github', 'LICENSE', 'README.md']);
    expect(readdirSync(join(tree, '.github', 'workflows'))).toEqual(['build-monorepo.yml']);
    expect(readFileSync(join(tree, 'README.md'), 'utf8')).toContain(
      `uses: ${owner}/build-monorepo-workflow/.github/workflows/build-monorepo.yml@v1`,
    );
  });

  it('parses with no error and passes actionlint', async () => {
    expect(await parserFindings(workflow)).toEqual([]);
    expect(await actionlintFindings(workflow)).toEqual([]);
  });

  it('names only the standalone action repositories, each a released tree, with declared inputs', () => {
    expect(workflow.content).not.toContain(`${repo}/`);
    const ours = stepUses(parse(workflow.content) as WorkflowYaml)
      .map((s) => s.uses)
      .filter((uses) => uses.startsWith(`${owner}/`));
    expect(new Set(ours)).toEqual(
      new Set(['setup', 'build-push', 'bake', 'monorepo-plan'].map((n) => `${owner}/${n}-action@v1`)),
    );
    for (const uses of ours) expect(existsSync(standaloneActionYml(uses) as string), uses).toBe(true);
    expect(pinningFindings(workflow, (uses) => standaloneActionYml(uses) !== undefined)).toEqual([]);
    expect(actionInputFindings(workflow, standaloneActionYml)).toEqual([]);
  });

  it('is what a caller of the standalone repository gets', async () => {
    const provider: FileProvider = {
      getFileContent: (ref) =>
        'repository' in ref && `${ref.owner}/${ref.repository}` === `${owner}/build-monorepo-workflow`
          ? Promise.resolve({ name: ref.path, content: workflow.content })
          : Promise.reject(new Error('not found')),
    };
    const caller: WorkflowFile = {
      path: 'caller.yml',
      content: readFileSync(join(root, 'examples', 'workflows', 'monorepo.yml'), 'utf8').replace(
        `${repo}/.github/workflows/build-monorepo.yml@v1`,
        `${owner}/build-monorepo-workflow/.github/workflows/build-monorepo.yml@v1`,
      ),
    };
    expect(await parserFindings(caller, provider)).toEqual([]);
    expect(await inputTypeFindings(caller, provider)).toEqual([]);
  });
});

describe('standaloneWorkflow', () => {
  it('refuses an action it does not release, and a reference to this repository it cannot map', () => {
    expect(() => standaloneWorkflow(`- uses: ${repo}/actions/nope@v1\n`)).toThrow(
      'the workflow uses actions/nope, which has no action.yml to release',
    );
    expect(() => standaloneWorkflow(`- uses: ${repo}/.github/workflows/other.yml@v1\n`)).toThrow(
      `the released workflow still names ${repo}/.github/workflows/other.yml@v1`,
    );
  });
});
