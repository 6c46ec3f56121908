// scripts/readme.ts: the README's tables and every `uses:` of our actions and reusable workflow, in README.md and
// in .github/workflows and examples/workflows, follow package.json `repository`; --check names each stale file.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repositoryName } from '../shared/identity';
import { renderReadme, renderWorkflow, run } from './readme';

const root = resolve(import.meta.dirname, '..');
const repo = repositoryName();
const owner = repo.split('/')[0] as string;

describe('renderWorkflow', () => {
  it("rewrites another owner's uses: of our actions and reusable workflow, in steps, jobs and comments", () => {
    const text = [
      '#     uses: someone/fork/.github/workflows/build-monorepo.yml@v1',
      'jobs:',
      '  a:',
      '    uses: someone/fork/.github/workflows/build-monorepo.yml@v1',
      '  b:',
      '    steps:',
      '      - uses: someone/fork/actions/build-push@v1',
      "      - uses: 'someone/fork/actions/setup@v1'",
      '      - uses: someone/fork/actions/monorepo-plan@v1',
      '',
    ].join('\n');
    expect(renderWorkflow(text)).toBe(text.replaceAll('someone/fork', repo));
  });

  it('leaves third-party actions, other workflows, other tags and prose alone', () => {
    const text = [
      'jobs:',
      '  a:',
      '    uses: acme/ci/.github/workflows/other.yml@v1',
      '  b:',
      '    steps:',
      '      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1',
      '      - uses: github/codeql-action/actions/init@v1', // not an action of ours
      '      - uses: someone/fork/actions/build-push@v2',
      '      - run: echo someone/fork/actions/build-push@v1',
      '',
    ].join('\n');
    expect(renderWorkflow(text)).toBe(text);
  });
});

describe('renderReadme', () => {
  it('rewrites the reusable workflow as it does the actions', () => {
    expect(renderReadme('uses: x/y/.github/workflows/build-monorepo.yml@v1 and x/y/actions/bake@v1')).toBe(
      `uses: ${repo}/.github/workflows/build-monorepo.yml@v1 and ${repo}/actions/bake@v1`,
    );
  });

  it('keeps the standalone repositories of release:actions standalone, under our owner', () => {
    expect(
      renderReadme(
        'x/build-monorepo-workflow/.github/workflows/build-monorepo.yml@v1, x/monorepo-plan-action@v1',
      ),
    ).toBe(
      `${owner}/build-monorepo-workflow/.github/workflows/build-monorepo.yml@v1, ${owner}/monorepo-plan-action@v1`,
    );
    expect(
      renderWorkflow('    uses: x/build-monorepo-workflow/.github/workflows/build-monorepo.yml@v1\n'),
    ).toBe(`    uses: ${owner}/build-monorepo-workflow/.github/workflows/build-monorepo.yml@v1\n`);
  });
});

describe('scripts/readme.ts over a checkout', () => {
  function copy(): string {
    const dir = mkdtempSync(join(tmpdir(), 'readme-'));
    cpSync(join(root, 'README.md'), join(dir, 'README.md'));
    cpSync(join(root, '.github', 'workflows'), join(dir, '.github', 'workflows'), { recursive: true });
    cpSync(join(root, 'examples', 'workflows'), join(dir, 'examples', 'workflows'), { recursive: true });
    // The README as the script writes it, so only what the test breaks is stale.
    run(dir, false);
    return dir;
  }

  it('every workflow in this checkout follows package.json repository', () => {
    const stale = run(root, true).filter((line) => !line.startsWith('README.md'));
    expect(stale).toEqual([]);
  });

  it('--check names each stale workflow; a run without it rewrites them', () => {
    const dir = copy();
    expect(run(dir, true)).toEqual([]);
    const example = join(dir, 'examples', 'workflows', 'monorepo.yml');
    const caller = join(dir, '.github', 'workflows', 'build-monorepo.yml');
    const good = readFileSync(example, 'utf8');
    writeFileSync(
      example,
      good.replace(`${repo}/.github/workflows/`, 'old-owner/old-repo/.github/workflows/'),
    );
    writeFileSync(
      caller,
      readFileSync(caller, 'utf8').replace(
        `${repo}/actions/build-push@v1`,
        'old-owner/old-repo/actions/build-push@v1',
      ),
    );
    const problems = run(dir, true);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(
      /^\.github\/workflows\/build-monorepo\.yml is stale .*npx tsx scripts\/readme\.ts/,
    );
    expect(problems[1]).toMatch(/^examples\/workflows\/monorepo\.yml is stale/);
    expect(run(dir, false)).toEqual([]);
    expect(readFileSync(example, 'utf8')).toBe(good);
    expect(run(dir, true)).toEqual([]);
  });

  it('--check names a stale README', () => {
    const dir = copy();
    const readme = join(dir, 'README.md');
    writeFileSync(
      readme,
      readFileSync(readme, 'utf8').replace(`${repo}/actions/build-push@v1`, 'x/y/actions/build-push@v1'),
    );
    expect(run(dir, true)).toEqual([
      'README.md is stale (its tables or `uses:` lines): run `npx tsx scripts/readme.ts` and commit README.md.',
    ]);
  });
});
