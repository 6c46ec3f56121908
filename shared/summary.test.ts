import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  depotCells,
  envSwitch,
  isolatedCell,
  renderSummary,
  reportSummary,
  summaryInputs,
  summarySkipped,
  summaryStep,
} from './summary';
import type { BuildReport } from './summary';

describe('isolatedCell', () => {
  it('says why a fork build is isolated', () => {
    const fork = {
      kind: 'token',
      token: 't',
      source: 'fork-claim',
      isolated: true,
      isolation: 'pull request #12 from fork mallory/web',
    } as const;
    expect(isolatedCell(fork)).toBe(
      'yes: pull request #12 from fork mallory/web; the project cache is neither read nor written',
    );
    expect(
      renderSummary({ heading: 'Depot build', rows: [['Isolated', isolatedCell(fork, true)]] }),
    ).toContain(
      '| Isolated | yes: pull request #12 from fork mallory/web; the project cache is neither read nor written |',
    );
  });

  it('reads the metadata first, else the token; "-" when neither says', () => {
    const oidc = { kind: 'token', token: 't', source: 'oidc', isolated: false } as const;
    expect(isolatedCell(oidc)).toBe('no');
    expect(isolatedCell(oidc, true)).toBe('yes');
    expect(isolatedCell({ kind: 'no-project', reason: 'x' })).toBe('-');
    expect(isolatedCell({ kind: 'fallback', reason: 'x' })).toBe('-');
    expect(isolatedCell(undefined)).toBe('-');
    expect(isolatedCell(undefined, false)).toBe('no');
  });
});

const SECRET = 'npm_super_secret_value_42';
const TOKEN = 'depot-project-token-abc123def456';
const GH_TOKEN = 'ghs_0123456789abcdefABCDEF';

function report(over: Partial<BuildReport> = {}): BuildReport {
  return {
    heading: 'Depot build',
    status: 'success',
    startedAt: 1_000,
    finishedAt: 13_345,
    call: '',
    digest: 'sha256:2222222222222222222222222222222222222222222222222222222222222222',
    tags: ['localhost:5000/app:latest', 'localhost:5000/app:1.0'],
    platforms: ['linux/amd64', 'linux/arm64'],
    project: 'web',
    buildId: 'bld_1',
    isolated: 'no',
    builtWith: 'depot',
    inputs: { context: '.', push: 'true' },
    refs: ['default/default/k43f6gy3ylgnpe5n5vrb26nv3'],
    history: { export: true, finalize: true },
    ...over,
  };
}

describe('summaryInputs', () => {
  it('lists the non-empty inputs; secrets by key only, github-token left out, token as ***', () => {
    const inputs = summaryInputs({
      context: '.',
      file: '',
      push: true,
      load: false,
      tags: ['a:1', 'a:2'],
      labels: [],
      'fork-wait': 600,
      secrets: [`NPM_TOKEN=${SECRET}`, `OTHER=${SECRET}x`, 'malformed'],
      'secret-envs': ['GH=GITHUB_TOKEN_ENV'],
      'secret-files': [`KEY=/tmp/${SECRET}`],
      'github-token': GH_TOKEN,
      token: TOKEN,
      version: { kind: 'preferred', version: '1.0.0' },
    });
    expect(inputs).toEqual({
      context: '.',
      push: 'true',
      tags: 'a:1\na:2',
      'fork-wait': '600',
      secrets: 'NPM_TOKEN\nOTHER',
      'secret-envs': 'GH',
      'secret-files': 'KEY',
      token: '***',
    });
    const text = JSON.stringify(inputs);
    for (const s of [SECRET, TOKEN, GH_TOKEN, 'GITHUB_TOKEN_ENV']) expect(text).not.toContain(s);
  });

  it('an empty token is not listed', () => {
    expect(summaryInputs({ token: '', 'github-token': '' })).toEqual({});
  });
});

describe('reportSummary + renderSummary', () => {
  it('a successful build: docker’s sections (status, duration, digest, tags, platforms, inputs) and ours', () => {
    const md = renderSummary(reportSummary(report()));
    expect(md).toContain('## Depot build\n');
    expect(md).toContain('| Status | :white_check_mark: success |');
    expect(md).toContain('| Duration | 12.3 s |');
    expect(md).toContain(
      '| Digest | sha256:2222222222222222222222222222222222222222222222222222222222222222 |',
    );
    expect(md).toContain('| Tags | localhost:5000/app:latest, localhost:5000/app:1.0 |');
    expect(md).toContain('| Platforms | linux/amd64, linux/arm64 |');
    expect(md).toContain('| Project | web |');
    expect(md).toContain('| Build id | bld_1 |');
    expect(md).toContain('| Isolated | no |');
    expect(md).toContain('| Built with | depot |');
    expect(md).toContain('<details><summary><strong>Build inputs</strong></summary>');
    expect(md).toContain('| context | . |');
    expect(md).not.toContain('| Error |');
    expect(md).not.toContain('Build record');
  });

  it('a failed build: status failed and its error on one line', () => {
    const md = renderSummary(
      reportSummary(
        report({
          status: 'failed',
          error: 'depot build failed with: ERROR: failed to solve: exit code: 3',
          digest: undefined,
          buildId: 'bld_failed',
        } as Partial<BuildReport>),
      ),
    );
    expect(md).toContain('| Status | :x: failed |');
    expect(md).toContain('| Error | depot build failed with: ERROR: failed to solve: exit code: 3 |');
    expect(md).toContain('| Digest | - |');
    expect(md).toContain('| Build id | bld_failed |');
  });

  it('the fallback and an isolated fork build say so', () => {
    const fallback = depotCells(
      {
        resolution: { kind: 'fallback', reason: 'broker unreachable' },
        result: { via: 'buildx', exitCode: 0 },
      } as never,
      undefined,
    );
    expect(fallback).toEqual({
      project: 'none (plain buildx)',
      buildId: '-',
      isolated: '-',
      builtWith: 'docker buildx (fallback)',
    });
    const fork = depotCells(
      {
        resolution: {
          kind: 'token',
          token: 't',
          source: 'fork-claim',
          isolated: true,
          isolation: 'pull request #12 from fork mallory/web',
        },
        result: { via: 'depot', exitCode: 0 },
      } as never,
      { buildID: 'bld_2', projectID: 'demo', isolated: true },
    );
    const md = renderSummary(reportSummary(report({ ...fork })));
    expect(md).toContain('| Project | demo |');
    expect(md).toMatch(/\| Isolated \| yes: pull request #12 from fork mallory\/web; /);
    expect(renderSummary(reportSummary(report({ ...fallback })))).toContain(
      '| Built with | docker buildx (fallback) |',
    );
    // A failed build knows only what the metadata says.
    expect(depotCells(undefined, { buildID: 'bld_3', projectID: 'web', isolated: false })).toEqual({
      project: 'web',
      buildId: 'bld_3',
      isolated: 'no',
      builtWith: 'depot',
    });
    expect(depotCells(undefined, undefined)).toEqual({
      project: '-',
      buildId: '-',
      isolated: '-',
      builtWith: '-',
    });
  });

  it('bake: one row per target, no image rows', () => {
    const md = renderSummary(
      reportSummary(
        report({
          heading: 'Depot bake',
          targets: [
            { name: 'app', platforms: 'linux/amd64', tags: 'r/app:1', digest: 'sha256:aa' },
            { name: 'worker', platforms: 'default', tags: '-', digest: '-' },
          ],
        }),
      ),
    );
    expect(md).toContain('| Target | Platforms | Tags | Digest |');
    expect(md).toContain('| app | linux/amd64 | r/app:1 | sha256:aa |');
    expect(md).toContain('| worker | default | - | - |');
    expect(md).not.toMatch(/^\| Digest \|/m);
  });

  it('the build record row links the artifact; values are escaped', () => {
    const md = renderSummary(
      reportSummary(report({ tags: ['<img src=x>|pipe'], inputs: { 'build-args': 'A=1\nB=2' } }), {
        name: 'acme~web~K43F6G.dockerbuild',
        url: 'https://github.com/acme/web/actions/runs/4242/artifacts/17',
        size: 13_336,
      }),
    );
    expect(md).toContain(
      '| Build record | <a href="https://github.com/acme/web/actions/runs/4242/artifacts/17">acme~web~K43F6G.dockerbuild</a> (13.0 KiB) |',
    );
    expect(md).toContain('| Tags | &lt;img src=x&gt;\\|pipe |');
    expect(md).toContain('| build-args | A=1<br>B=2 |');
  });
});

/** What @actions/core printed (its `::warning::` commands, info lines) while `fn` ran. */
async function printed(fn: () => unknown): Promise<string> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await fn();
  } finally {
    spy.mockRestore();
  }
  return out;
}

describe('env switches', () => {
  it('DOCKER_BUILD_SUMMARY=false turns the summary off; a call other than build has none', () => {
    expect(summarySkipped(report(), {})).toBeUndefined();
    expect(summarySkipped(report(), { DOCKER_BUILD_SUMMARY: 'true' })).toBeUndefined();
    expect(summarySkipped(report(), { DOCKER_BUILD_SUMMARY: 'false' })).toMatch(/disabled/);
    expect(summarySkipped(report(), { DOCKER_BUILD_SUMMARY: '0' })).toMatch(/disabled/);
    expect(summarySkipped(report({ call: 'check' }), {})).toBe('Build summary skipped for check subrequest');
    expect(summarySkipped(report({ call: 'build' }), {})).toBeUndefined();
  });

  it('v7’s removed DOCKER_BUILD_NO_SUMMARY does nothing', () => {
    expect(summarySkipped(report(), { DOCKER_BUILD_NO_SUMMARY: 'true' })).toBeUndefined();
  });

  it('a value that is not a boolean is a warning and the default', async () => {
    let value: boolean | undefined;
    const out = await printed(() => {
      value = envSwitch('DOCKER_BUILD_SUMMARY', true, { DOCKER_BUILD_SUMMARY: 'nope' });
    });
    expect(value).toBe(true);
    expect(out).toContain(
      '::warning::DOCKER_BUILD_SUMMARY must be true or false, got "nope": taken as true.',
    );
  });
});

describe('summaryStep (the post step)', () => {
  // One file for the describe: @actions/core's summary keeps the path it first read.
  const dir = mkdtempSync(join(tmpdir(), 'summary-'));
  const file = join(dir, 'summary.md');
  const saved = { ...process.env };
  beforeEach(() => {
    writeFileSync(file, '');
    process.env.GITHUB_STEP_SUMMARY = file;
  });
  afterEach(() => {
    process.env = { ...saved };
    vi.restoreAllMocks();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const withState = (r: BuildReport) => {
    process.env.STATE_buildReport = JSON.stringify(r);
  };

  it('writes the saved report, with the record recordFor returns', async () => {
    withState(report());
    await summaryStep(async (r) => ({
      name: `acme~web~${(r.refs[0] ?? '').split('/')[2]?.slice(0, 6).toUpperCase() ?? ''}.dockerbuild`,
      url: 'https://github.com/acme/web/actions/runs/4242/artifacts/1',
      size: 10,
    }));
    const md = readFileSync(file, 'utf8');
    expect(md).toContain('| Status | :white_check_mark: success |');
    expect(md).toContain('acme~web~K43F6G.dockerbuild</a> (10 B)');
  });

  it('a throwing recordFor is a warning, and the summary is still written', async () => {
    withState(report({ status: 'failed' }));
    const out = await printed(() => summaryStep(() => Promise.reject(new Error('export exploded'))));
    expect(out).toContain('::warning::Build record not uploaded: export exploded');
    expect(readFileSync(file, 'utf8')).toContain('| Status | :x: failed |');
  });

  it('DOCKER_BUILD_SUMMARY=false: no summary and no record; no saved report: nothing', async () => {
    withState(report());
    const recordFor = vi.fn();
    const out = await printed(() =>
      summaryStep(recordFor, { ...process.env, DOCKER_BUILD_SUMMARY: 'false' }),
    );
    expect(out).toContain('Build summary disabled (DOCKER_BUILD_SUMMARY)');
    expect(recordFor).not.toHaveBeenCalled();
    delete process.env.STATE_buildReport;
    await summaryStep(recordFor);
    expect(recordFor).not.toHaveBeenCalled();
    expect(readFileSync(file, 'utf8')).toBe('');
  });
});
