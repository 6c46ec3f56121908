// Every workflow in .github/workflows/ and examples/workflows/: GitHub's parser (calls into our reusable workflow
// resolved from the local file), the types given to its inputs, the inputs given to our actions, actionlint, and
// third-party actions pinned by SHA; build-monorepo.yml's guards (an empty plan skips the matrix jobs, least
// permissions). Each check is shown failing on a deliberately broken in-memory copy, so a green run means something.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repositoryName } from '../shared/identity';
import {
  actionInputFindings,
  actionlintFindings,
  convertWorkflow,
  evaluateJobIf,
  inputTypeFindings,
  localWorkflowProvider,
  parserFindings,
  permissionFindings,
  pinningFindings,
  root,
  workflowFiles,
} from './workflow-checks';
import type { WorkflowFile, WorkflowYaml } from './workflow-checks';

const files = workflowFiles();
const monorepoPath = '.github/workflows/build-monorepo.yml';
const monorepo = readFileSync(join(root, monorepoPath), 'utf8');
const repo = repositoryName();

/** A copy of `file` with `from` replaced by `to`; fails loudly when `from` is not there (a stale test). */
function broken(file: WorkflowFile, from: string | RegExp, to: string): WorkflowFile {
  const content = file.content.replace(from, to);
  if (content === file.content) throw new Error(`${file.path} has no ${String(from)} to break`);
  return { path: `${file.path} (broken copy)`, content };
}
const byPath = (path: string): WorkflowFile => {
  const f = files.find((x) => x.path === path);
  if (!f) throw new Error(`${path} is missing`);
  return f;
};

const caller = (withBlock: string): WorkflowFile => ({
  path: 'caller.yml',
  content: [
    'name: caller',
    'on: push',
    'permissions: { contents: read }',
    'jobs:',
    '  images:',
    `    uses: ${repo}/.github/workflows/build-monorepo.yml@v1`,
    '    permissions: { contents: read, id-token: write }',
    '    with:',
    ...withBlock.split('\n').map((l) => `      ${l}`),
    '',
  ].join('\n'),
});

it('finds the workflows (both directories, every example)', () => {
  const paths = files.map((f) => f.path);
  expect(paths).toContain(monorepoPath);
  for (const name of [
    'build-push',
    'bake',
    'setup-depot-build',
    'use-docker-build',
    'monorepo',
    'buildx-fallback',
    'fork-pull-requests',
  ]) {
    expect(paths).toContain(`examples/workflows/${name}.yml`);
  }
});

describe('@actions/workflow-parser', () => {
  it.each(files.map((f) => [f.path, f] as const))('%s parses with no error', async (_path, file) => {
    expect(await parserFindings(file)).toEqual([]);
  });

  it('resolves the call in examples/workflows/monorepo.yml to the local build-monorepo.yml', async () => {
    const { template } = await convertWorkflow(byPath('examples/workflows/monorepo.yml'));
    const job = template.jobs.find((j) => j.id.value === 'images');
    expect(job?.type).toBe('reusableWorkflowJob');
    // The called workflow's jobs were read: the parser checked the inputs against its declarations.
    expect(job?.type === 'reusableWorkflowJob' && job.jobs?.map((j) => j.id.value)).toEqual([
      'plan',
      'build',
      'bake',
      'gather',
    ]);
  });

  it('fails on an undeclared input, a missing required one, and a workflow it cannot find', async () => {
    const example = byPath('examples/workflows/monorepo.yml');
    const typo = await parserFindings(broken(example, 'broker-url:', 'broker-ulr:'));
    expect(typo.join('\n')).toMatch(/Invalid input, broker-ulr is not defined in the referenced workflow/);

    const required = monorepo.replace(
      /( {6}images:\n {8}description: [^\n]*\n {8}type: string\n)/,
      '$1        required: true\n',
    );
    expect(required).not.toBe(monorepo);
    const missing = await parserFindings(
      caller('bake-file: docker-bake.hcl'),
      localWorkflowProvider({ [monorepoPath]: required }),
    );
    expect(missing.join('\n')).toMatch(/Input images is required/);

    const elsewhere = await parserFindings(
      broken(
        example,
        `${repo}/.github/workflows/build-monorepo.yml@v1`,
        `${repo}/.github/workflows/nope.yml@v1`,
      ),
      localWorkflowProvider({ '.github/workflows/nope.yml': 'not: [a workflow' }),
    );
    expect(elsewhere.length).toBeGreaterThan(0);
    const unknown = await parserFindings(
      broken(
        example,
        `${repo}/.github/workflows/build-monorepo.yml@v1`,
        'someone/else/.github/workflows/x.yml@v1',
      ),
    );
    expect(unknown.join('\n')).toMatch(/Unable to find reusable workflow/);
  });

  it('fails on a schema error (a step with both run and uses)', async () => {
    const bad = broken(
      byPath('examples/workflows/use-docker-build.yml'),
      /- run: docker build/,
      '- uses: x/y@v1\n        run: docker build',
    );
    expect((await parserFindings(bad)).length).toBeGreaterThan(0);
  });
});

describe('the types given to the reusable workflow', () => {
  it.each(files.map((f) => [f.path, f] as const))(
    '%s gives every input its declared type',
    async (_path, file) => {
      expect(await inputTypeFindings(file)).toEqual([]);
    },
  );

  it('fails on a string given to a boolean, a string to a number, a boolean to a string', async () => {
    const findings = await inputTypeFindings(
      caller(
        [
          'images: services/api',
          "push: 'true'",
          'fork-wait: "60"',
          'registry: true',
          'all: ${{ true }}',
        ].join('\n'),
      ),
    );
    expect(findings).toEqual([
      'caller.yml: job images: input push is a boolean, given the string "true"',
      'caller.yml: job images: input fork-wait is a number, given the string "60"',
      'caller.yml: job images: input registry is a string, given the boolean "true"',
    ]);
  });

  it('accepts literals of the declared types and expressions', async () => {
    const ok = caller(
      ['images: services/api', 'push: false', 'fork-wait: 120', "registry: ${{ 'r' }}"].join('\n'),
    );
    expect(await parserFindings(ok)).toEqual([]);
    expect(await inputTypeFindings(ok)).toEqual([]);
  });
});

describe("the inputs given to our actions (depot-suite's actions/<name>/action.yml)", () => {
  it.each(files.map((f) => [f.path, f] as const))('%s gives only declared inputs', (_path, file) => {
    expect(actionInputFindings(file)).toEqual([]);
  });

  it('fails on a misspelled input and on an action that does not exist', () => {
    const typo = broken(
      byPath('examples/workflows/buildx-fallback.yml'),
      /^ {10}buildx-fallback: true$/m,
      '          buildx-falback: true',
    );
    expect(actionInputFindings(typo)).toEqual([
      `${typo.path}: job build step 4: ${repo}/actions/build-push@v1 has no input buildx-falback`,
    ]);
    const noSuch = broken(
      byPath('examples/workflows/use-docker-build.yml'),
      `${repo}/actions/use@v1`,
      `${repo}/actions/usee@v1`,
    );
    expect(actionInputFindings(noSuch).join('\n')).toMatch(/actions\/usee@v1 names no action/);
  });

  it("checks build-monorepo.yml's own steps (cache-key, mode, metadata)", () => {
    const bad = {
      path: monorepoPath,
      content: monorepo.replace('cache-key: ${{ matrix.name }}', 'cache-kye: ${{ matrix.name }}'),
    };
    expect(actionInputFindings(bad).join('\n')).toMatch(/build-push@v1 has no input cache-kye/);
  });
});

describe('actionlint', () => {
  it.each(files.map((f) => [f.path, f] as const))('%s has no finding', async (_path, file) => {
    expect(await actionlintFindings(file)).toEqual([]);
  });

  it('fails on an unknown context, a bad runner expression and a needs of no job', async () => {
    const example = byPath('examples/workflows/build-push.yml');
    const findings = await actionlintFindings(broken(example, '${{ github.actor }}', '${{ github.actorr }}'));
    expect(findings.join('\n')).toMatch(/actorr/);
    const needs = await actionlintFindings({
      path: monorepoPath,
      content: monorepo.replace('needs: plan\n', 'needs: plann\n'),
    });
    expect(needs.join('\n')).toMatch(/plann/);
  });
});

describe('third-party actions pinned by a full commit SHA', () => {
  it.each(files.map((f) => [f.path, f] as const))('%s pins every third-party action', (_path, file) => {
    expect(pinningFindings(file)).toEqual([]);
  });

  it('fails on a tag, a short SHA and an unpinned reusable workflow', () => {
    const example = byPath('examples/workflows/build-push.yml');
    expect(
      pinningFindings(broken(example, /docker\/login-action@[0-9a-f]{40}/, 'docker/login-action@v4')),
    ).toEqual([
      `${example.path} (broken copy): job build step 3: docker/login-action@v4 is not pinned by a full commit SHA`,
    ]);
    expect(
      pinningFindings(broken(example, /actions\/checkout@([0-9a-f]{7})[0-9a-f]{33}/, 'actions/checkout@$1')),
    ).toHaveLength(1);
    const call = broken(
      byPath('examples/workflows/monorepo.yml'),
      `${repo}/.github/workflows/build-monorepo.yml@v1`,
      'acme/ci/.github/workflows/x.yml@main',
    );
    expect(pinningFindings(call)).toEqual([
      `${call.path}: job images: acme/ci/.github/workflows/x.yml@main is not pinned by a full commit SHA`,
    ]);
  });
});

describe('least permissions', () => {
  it.each(files.map((f) => [f.path, f] as const))('%s grants write only where it is used', (_path, file) => {
    expect(permissionFindings(file)).toEqual([]);
  });

  it('fails on packages: write without a ghcr.io push, id-token: write without an exchange, any other write', () => {
    const mono = broken(
      byPath('examples/workflows/monorepo.yml'),
      /( {6}id-token: write\n)/,
      '$1      packages: write\n',
    );
    expect(permissionFindings(mono)).toEqual([`${mono.path}: job images: packages: write is not needed`]);
    const ci = broken(
      byPath('.github/workflows/ci.yml'),
      /^permissions:\n {2}contents: read\n/m,
      'permissions:\n  contents: write\n  id-token: write\n',
    );
    expect(permissionFindings(ci)).toEqual([
      `${ci.path}: top level: contents: write is not needed`,
      `${ci.path}: top level: id-token: write is not needed`,
    ]);
    const none = broken(byPath('examples/workflows/bake.yml'), /^permissions:\n {2}contents: read\n/m, '');
    expect(permissionFindings(none)).toEqual([`${none.path}: no top-level permissions (contents: read)`]);
  });
});

describe('build-monorepo.yml', () => {
  const wf = parse(monorepo) as WorkflowYaml;
  const jobs = wf.jobs ?? {};
  const matrixJobs = Object.entries(jobs)
    .filter(([, job]) => typeof job.strategy?.matrix === 'string')
    .map(([id]) => id);

  /** The contexts a matrix job's `if:` sees after a plan that found `count` images in `mode`. */
  const after = (count: string, mode: string) => ({
    needs: { plan: { result: 'success', outputs: { count, mode, matrix: '{"include":[]}' } } },
    inputs: {},
    github: { event_name: 'push' },
  });
  const runs = (job: string, count: string, mode: string): boolean => {
    const condition = jobs[job]?.if;
    if (typeof condition !== 'string') throw new Error(`job ${job} has no if:`);
    return evaluateJobIf(condition, after(count, mode));
  };

  it('has exactly the matrix jobs build and bake, each with an if:', () => {
    expect(matrixJobs.sort()).toEqual(['bake', 'build']);
    for (const id of matrixJobs) expect(typeof jobs[id]?.if).toBe('string');
  });

  it.each(['images', 'bake'])('skips every matrix job when the plan (mode %s) is empty', (mode) => {
    for (const id of matrixJobs) expect(runs(id, '0', mode)).toBe(false);
  });

  it('runs build for 2 images and bake for 2 bake targets, each only in its mode', () => {
    expect(runs('build', '2', 'images')).toBe(true);
    expect(runs('bake', '2', 'images')).toBe(false);
    expect(runs('bake', '2', 'bake')).toBe(true);
    expect(runs('build', '2', 'bake')).toBe(false);
  });

  it('the guard can fail: an if: without the count test runs on an empty plan', () => {
    const loose = "${{ needs.plan.outputs.mode == 'images' }}";
    expect(evaluateJobIf(loose, after('0', 'images'))).toBe(true);
    expect(evaluateJobIf(jobs.build?.if as string, after('0', 'images'))).toBe(false);
  });

  it('asks for contents: read at the top, and id-token: write only on the build jobs', () => {
    expect(wf.permissions).toEqual({ contents: 'read' });
    for (const [id, job] of Object.entries(jobs)) {
      const perms = (job.permissions ?? {}) as Record<string, string>;
      if (matrixJobs.includes(id)) expect(perms).toEqual({ contents: 'read', 'id-token': 'write' });
      else expect(perms['id-token'], `job ${id}`).toBeUndefined();
      for (const [scope, level] of Object.entries(perms)) {
        expect([`contents:read`, 'id-token:write'], `job ${id}`).toContain(`${scope}:${level}`);
      }
    }
  });

  it('gives each build leg its own cache (cache-key: the image name)', () => {
    for (const id of matrixJobs) {
      const build = (jobs[id]?.steps ?? []).find(
        (s) => typeof s.uses === 'string' && /\/actions\/(build-push|bake)@/.test(s.uses),
      );
      expect(build?.with?.['cache-key'], `job ${id}`).toBe('${{ matrix.name }}');
    }
  });
});

describe('README.md', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = (title: string): string => {
    const start = readme.indexOf(`\n## ${title}\n`);
    if (start < 0) throw new Error(`README.md has no section ${title}`);
    const end = readme.indexOf('\n## ', start + 1);
    return readme.slice(start, end < 0 ? undefined : end);
  };

  it('"Example workflows" links every file of examples/workflows/, and each is linked from an action section', () => {
    const examples = files.filter((f) => f.path.startsWith('examples/workflows/')).map((f) => f.path);
    const list = section('Example workflows');
    const actions = section('Actions') + section('Monorepos');
    for (const path of examples) {
      const name = path.split('/').pop() as string;
      expect(list, path).toContain(`](${path})`);
      expect(actions, path).toContain(`[${name}](${path})`);
    }
  });

  it('"Monorepos" shows the caller and the permissions it grants', () => {
    const monorepos = section('Monorepos');
    expect(monorepos).toContain(`uses: ${repo}/.github/workflows/build-monorepo.yml@v1`);
    expect(monorepos).toMatch(/contents: read[^\n]*\n\s*id-token: write/);
    expect(monorepos).toContain('<!-- workflow:build-monorepo -->');
  });
});

describe('examples/workflows/monorepo.yml', () => {
  it("lists examples/monorepo's images, each a directory with a Dockerfile", () => {
    const wf = parse(byPath('examples/workflows/monorepo.yml').content) as {
      jobs: { images: { with: { images: string } } };
    };
    const dirs = wf.jobs.images.with.images.split('\n').filter((l) => l.trim() !== '');
    expect(dirs).toEqual(['services/api', 'services/web', 'services/worker']);
    for (const dir of dirs)
      expect(existsSync(join(root, 'examples', 'monorepo', dir, 'Dockerfile')), dir).toBe(true);
  });
});
