// The workflow runner on tiny workflows with bash steps only (no engine, no bundle): the call's inputs and secrets,
// expressions, needs and their outputs, matrix legs from fromJSON, skipped jobs and GitHub's rules for their
// dependants, an empty matrix, workflow outputs; and the checkout and registry login stand-ins on a real git
// repository.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repositoryName } from '../../shared/identity';
import { ROOT } from './runner';
import {
  condition,
  expandMatrix,
  interpolate,
  resolveUses,
  runWorkflow,
  STANDIN_ACTIONS,
} from './workflow-runner';
import type { WorkflowCall, WorkflowRunResult } from './workflow-runner';

const TINY = `
name: tiny
on:
  workflow_call:
    inputs:
      names: { type: string, required: true }
      greet: { type: boolean, default: true }
      count: { type: number, default: 2 }
      prefix: { type: string, default: 'pre-\${{ github.ref_name }}' }
    secrets:
      token: { required: false }
    outputs:
      joined: { value: '\${{ jobs.gather.outputs.joined }}' }
      plan-result: { value: '\${{ jobs.plan.result }}' }
      build-result: { value: '\${{ jobs.build.result }}' }
permissions:
  contents: read
jobs:
  plan:
    runs-on: \${{ inputs.runs-on || 'ubuntu-latest' }}
    outputs:
      matrix: \${{ steps.m.outputs.matrix }}
      count: \${{ steps.m.outputs.count }}
    steps:
      - id: m
        env:
          NAMES: \${{ inputs.names }}
        run: |
          items=()
          for n in $NAMES; do items+=("{\\"name\\":\\"$n\\",\\"n\\":\${#items[@]}}"); done
          echo "matrix={\\"include\\":[$(IFS=,; echo "\${items[*]}")]}" >> "$GITHUB_OUTPUT"
          echo "count=\${#items[@]}" >> "$GITHUB_OUTPUT"
          echo "oidc=\${ACTIONS_ID_TOKEN_REQUEST_URL:-none} prefix=\${{ inputs.prefix }} count=\${{ inputs.count }}"
      - if: \${{ !inputs.greet }}
        run: echo never
      - if: inputs.greet && github.event_name == 'push'
        run: echo "hello from \${{ github.workflow_ref }}"
  build:
    needs: plan
    if: \${{ needs.plan.outputs.count != '0' }}
    name: build \${{ matrix.name }}
    permissions:
      contents: read
      id-token: write
    strategy:
      fail-fast: false
      matrix: \${{ fromJSON(needs.plan.outputs.matrix) }}
    outputs:
      last: \${{ steps.b.outputs.name }}
    steps:
      - id: b
        env:
          NAME: \${{ matrix.name }}
          SECRET: \${{ secrets.token }}
        run: |
          [ "$NAME" != bad ] || { echo "leaking $SECRET"; exit 3; }
          echo "name=$NAME" >> "$GITHUB_OUTPUT"
          echo "$NAME" > "$SHARED/$NAME"
          echo "leg \${{ strategy.job-total }} \${{ strategy.job-index }} oidc=\${ACTIONS_ID_TOKEN_REQUEST_URL:-none} in $GITHUB_WORKSPACE"
      - if: failure()
        run: echo "after the failure of \${{ matrix.name }}"
      - run: echo "not after a failure"
  after:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo after
  last:
    needs: after
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "last sees after=\${{ needs.after.result }}"
  gather:
    needs: [plan, build]
    if: \${{ !cancelled() && needs.plan.result == 'success' }}
    runs-on: ubuntu-latest
    outputs:
      joined: \${{ steps.g.outputs.joined }}
    steps:
      - id: g
        run: echo "joined=$(ls "$SHARED" | sort | paste -sd, -)" >> "$GITHUB_OUTPUT"
`;

let dir: string;
let result: WorkflowRunResult | undefined;

afterEach(() => {
  result?.cleanup();
  result = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function call(yaml: string, over: Partial<WorkflowCall> = {}): WorkflowCall {
  dir = mkdtempSync(join(tmpdir(), 'wf-'));
  const workflow = join(dir, 'workflow.yml');
  writeFileSync(workflow, yaml);
  mkdirSync(join(dir, 'shared'));
  return {
    workflow,
    event: {
      name: 'push',
      payload: { ref: 'refs/heads/main', before: 'a'.repeat(40), after: 'b'.repeat(40) },
    },
    repository: 'acme/web',
    sha: 'b'.repeat(40),
    ref: 'refs/heads/main',
    caller: { name: 'ci', ref: 'acme/web/.github/workflows/ci.yml@refs/heads/main' },
    permissions: { contents: 'read', 'id-token': 'write' },
    idToken: { url: 'http://127.0.0.1:9/oidc', token: 'oidc-request-token-1234' },
    env: { SHARED: join(dir, 'shared') },
    ...over,
  };
}

function jobResults(r: WorkflowRunResult): Record<string, string> {
  return Object.fromEntries(Object.values(r.jobs).map((j) => [j.id, j.result]));
}

describe('expressions', () => {
  const contexts = {
    inputs: { push: true, n: 3, s: 'x' },
    needs: { plan: { outputs: { m: '{"a":[1,2]}' } } },
  };

  it('keep the type of a whole ${{ }} and join the text of mixed values', () => {
    expect(interpolate('${{ inputs.push }}', contexts)).toBe(true);
    expect(interpolate('${{ fromJSON(needs.plan.outputs.m) }}', contexts)).toEqual({ a: [1, 2] });
    expect(interpolate('n=${{ inputs.n }} ${{ inputs.push }} ${{ inputs.missing }}.', contexts)).toBe(
      'n=3 true .',
    );
    expect(interpolate({ a: ['${{ inputs.s }}', 1] }, contexts)).toEqual({ a: ['x', 1] });
    expect(interpolate("${{ format('{0}}}', inputs.s) }}", contexts)).toBe('x}');
  });

  it('refuse a context not offered at that place', () => {
    expect(() => interpolate('${{ secrets.x }}', contexts)).toThrow(/Unrecognized named-value: 'secrets'/);
  });

  it('put success() in front of an if that calls no status function', () => {
    const ok = { failed: false, succeeded: true };
    const failed = { failed: true, succeeded: true };
    expect(condition('inputs.push', contexts, ok)).toBe(true);
    expect(condition('${{ inputs.push }}', contexts, failed)).toBe(false);
    expect(condition('always() && inputs.push', contexts, failed)).toBe(true);
    expect(condition("failure() || inputs.s == 'success()'", contexts, ok)).toBe(false);
    expect(condition(undefined, contexts, { failed: false, succeeded: false })).toBe(false);
  });

  it('expand a matrix as GitHub does: vectors, exclude, include', () => {
    expect(expandMatrix({ include: [] })).toEqual([]);
    expect(
      expandMatrix({
        os: ['a', 'b'],
        v: [1, 2],
        exclude: [{ os: 'b', v: 2 }],
        include: [
          { os: 'a', extra: 'x' },
          { os: 'c', v: 9 },
        ],
      }),
    ).toEqual([
      { os: 'a', v: 1, extra: 'x' },
      { os: 'a', v: 2, extra: 'x' },
      { os: 'b', v: 1 },
      { os: 'c', v: 9 },
    ]);
  });
});

describe('a called workflow', () => {
  it('runs its jobs in needs order with a leg per matrix entry, and gives its outputs', async () => {
    result = await runWorkflow(
      call(TINY, { with: { names: 'api web', greet: true }, secrets: { token: 's3cret-value' } }),
    );
    const out = result.output();
    expect(result.result, out).toBe('success');
    expect(jobResults(result)).toEqual({
      plan: 'success',
      build: 'success',
      after: 'success',
      last: 'success',
      gather: 'success',
    });
    expect(result.outputs).toEqual({
      joined: 'api,web',
      'plan-result': 'success',
      'build-result': 'success',
    });
    const legs = result.jobs.build?.legs ?? [];
    expect(legs.map((l) => [l.name, l.matrix])).toEqual([
      ['build api', { name: 'api', n: 0 }],
      ['build web', { name: 'web', n: 1 }],
    ]);
    // Each leg is a job of its own: its own workspace; OIDC only where id-token: write is granted.
    const workspaces = legs.map((l) => l.job?.workspace);
    expect(new Set(workspaces).size).toBe(2);
    expect(out).toContain(`leg 2 0 oidc=http://127.0.0.1:9/oidc in ${workspaces[0]}`);
    expect(out).toContain('oidc=none prefix=pre-main count=2');
    expect(out).toContain('hello from acme/web/.github/workflows/ci.yml@refs/heads/main');
    expect(out).not.toContain('never');
    expect(result.jobs.plan?.legs[0]?.steps.map((s) => s.outcome)).toEqual(['success', 'skipped', 'success']);
    expect(result.jobs.build?.outputs.last).toMatch(/^(api|web)$/);
    expect(out).toContain('last sees after=success');
    expect(result.leakedSecrets()).toEqual([]);
  });

  it('with a failing leg: the other legs still run, its dependants are skipped unless they ask for a status', async () => {
    result = await runWorkflow(
      call(TINY, { with: { names: 'api bad web' }, secrets: { token: 's3cret-value' } }),
    );
    const out = result.output();
    expect(result.result).toBe('failure');
    expect(result.jobs.build?.legs.map((l) => l.result)).toEqual(['success', 'failure', 'success']);
    expect(jobResults(result)).toMatchObject({
      build: 'failure',
      after: 'skipped',
      last: 'success',
      gather: 'success',
    });
    expect(out).toContain('after the failure of bad');
    expect(out.match(/not after a failure/g)).toHaveLength(2);
    expect(out).toContain('last sees after=skipped');
    expect(result.outputs.joined).toBe('api,web');
    // The failing leg printed the secret: the leak check sees it.
    expect(result.leakedSecrets()).toEqual(['s3cret-value']);
  });

  it('skips the build when the plan is empty, and the jobs that need it by default; the run is green', async () => {
    result = await runWorkflow(call(TINY, { with: { names: '' } }));
    expect(result.result, result.output()).toBe('success');
    expect(jobResults(result)).toEqual({
      plan: 'success',
      build: 'skipped',
      after: 'skipped',
      last: 'success',
      gather: 'success',
    });
    expect(result.jobs.build?.legs).toEqual([]);
    expect(result.outputs).toEqual({ joined: '', 'plan-result': 'success', 'build-result': 'skipped' });
  });

  it('with fail-fast and max-parallel 1, cancels the legs not started after a failure', async () => {
    const yaml = TINY.replace('fail-fast: false', 'fail-fast: true\n      max-parallel: 1');
    result = await runWorkflow(call(yaml, { with: { names: 'api bad web' } }));
    expect(result.jobs.build?.legs.map((l) => l.result)).toEqual(['success', 'failure', 'cancelled']);
    expect(result.jobs.build?.result).toBe('failure');
    expect(result.outputs.joined).toBe('api');
  });

  it('fails a job whose matrix is empty, as GitHub does', async () => {
    const yaml = TINY.replace("if: ${{ needs.plan.outputs.count != '0' }}", '');
    result = await runWorkflow(call(yaml, { with: { names: '' } }));
    expect(result.jobs.build?.result).toBe('failure');
    expect(result.jobs.build?.error).toMatch(/the matrix has no legs/);
    expect(result.result).toBe('failure');
  });

  it.each([
    [{ names: 'a', nope: 'x' }, {}, 'Invalid input, nope is not defined in the referenced workflow.'],
    [{}, {}, 'Input names is required, but not provided while calling.'],
    [
      { names: 'a', greet: 'true' },
      {},
      'input greet: the workflow declares boolean, the caller gave string "true"',
    ],
    [{ names: 'a', count: '2' }, {}, 'input count: the workflow declares number, the caller gave string "2"'],
    [{ names: 'a' }, { other: 'x' }, 'Invalid secret, other is not defined in the referenced workflow.'],
  ])('refuses the call with %j and secrets %j', async (given, secrets, message) => {
    await expect(runWorkflow(call(TINY, { with: given, secrets }))).rejects.toThrow(message);
  });

  it('refuses a uses: it has no action or stand-in for, naming it', async () => {
    const yaml = TINY.replace('      - run: echo after', '      - uses: someone/else@v1');
    await expect(runWorkflow(call(yaml, { with: { names: 'a' } }))).rejects.toThrow(
      'uses: someone/else@v1: the workflow runner has no action or stand-in for it',
    );
  });

  it("resolves this repository's actions by package.json repository, and the stand-ins", () => {
    expect(resolveUses(`${repositoryName()}/actions/monorepo-plan@v1`)).toBe(
      join(ROOT, 'actions', 'monorepo-plan'),
    );
    expect(resolveUses(`actions/checkout@${'3'.repeat(40)}`)).toBe(join(STANDIN_ACTIONS, 'checkout'));
    expect(resolveUses('docker/login-action@v4')).toBe(join(STANDIN_ACTIONS, 'docker-login'));
    expect(() => resolveUses('acme/other/actions/setup@v1')).toThrow('acme/other/actions/setup@v1');
  });
});

describe('the checkout and registry login stand-ins', () => {
  const git = (cwd: string, ...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
      cwd,
      encoding: 'utf8',
    }).trim();

  const CHECKOUT = `
name: co
on:
  workflow_call:
    inputs:
      depth: { type: number, default: 1 }
      user: { type: string, default: '' }
    secrets:
      password: {}
jobs:
  co:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@${'3'.repeat(40)}
        with:
          fetch-depth: \${{ inputs.depth }}
      - run: |
          echo "head=$(git rev-parse HEAD) branch=$(git branch --show-current) count=$(git rev-list --count HEAD)"
          git fetch -q --deepen=1 origin
          echo "deepened=$(git rev-list --count HEAD)"
      - if: inputs.user != ''
        uses: docker/login-action@${'4'.repeat(40)}
        with:
          registry: 127.0.0.1:5000
          username: \${{ inputs.user }}
          password: \${{ secrets.password }}
      - run: if [ -f "$DOCKER_CONFIG/config.json" ]; then wc -c < "$DOCKER_CONFIG/config.json"; else echo 0; fi
`;

  it('fetch the event sha shallow (deepened on demand, or all with fetch-depth 0) and write the login', async () => {
    const c = call(CHECKOUT);
    const repo = join(dir, 'server', 'acme', 'web');
    mkdirSync(repo, { recursive: true });
    git(repo, 'init', '-q', '-b', 'main');
    for (const n of [1, 2, 3]) {
      writeFileSync(join(repo, 'f'), String(n));
      git(repo, 'add', 'f');
      git(repo, 'commit', '-qm', `c${n}`);
    }
    const head = git(repo, 'rev-parse', 'HEAD~1');
    const base = { ...c, gitServer: join(dir, 'server'), sha: head };
    result = await runWorkflow({
      ...base,
      with: { user: 'robot' },
      secrets: { password: 'pa55-word-secret' },
    });
    let out = result.output();
    expect(result.result, out).toBe('success');
    expect(out).toContain(`head=${head} branch=main count=1`);
    expect(out).toContain('deepened=2');
    const leg = result.legs[0];
    const config = JSON.parse(
      readFileSync(join(leg?.job?.dockerConfig ?? '', 'config.json'), 'utf8'),
    ) as unknown;
    expect(config).toEqual({
      auths: { '127.0.0.1:5000': { auth: Buffer.from('robot:pa55-word-secret').toString('base64') } },
    });
    expect(result.leakedSecrets()).toEqual([]);
    result.cleanup();

    result = await runWorkflow({ ...base, with: { depth: 0 } });
    out = result.output();
    expect(out).toContain(`head=${head} branch=main count=2`);
    expect(result.legs[0]?.steps.map((s) => s.outcome)).toEqual(['success', 'success', 'skipped', 'success']);
    expect(out).toMatch(/^0$/m);
  });
});
