import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { depotArgs } from '../../../shared/depot-inputs';
import type { GithubContext } from '../../../shared/github';
import { getInputs, toArgs } from './inputs';
import type { BakeDefinition } from './inputs';
import { githubContext } from '../../../test/support/github-context';

afterEach(() => vi.unstubAllEnvs());

const RUN = 'https://github.com/acme/web/actions/runs/42/attempts/1';
const GIT = 'https://github.com/acme/web.git#abc123';
const github = githubContext();

interface Opts {
  version?: string;
  definition?: BakeDefinition;
  env?: Record<string, string>;
  github?: Partial<GithubContext>;
}

function argsFor(inputs: Record<string, string>, opts: Opts = {}) {
  const defaults = {
    workdir: '.',
    'no-cache': 'false',
    pull: 'false',
    load: 'false',
    push: 'false',
    source: '.',
    targets: '',
  };
  for (const [k, v] of Object.entries({ 'github-token': '', ...defaults, ...inputs })) {
    vi.stubEnv(`INPUT_${k.toUpperCase()}`, v);
  }
  const gh = { ...github, ...opts.github };
  const parsed = getInputs(gh);
  const warnings: string[] = [];
  const out = toArgs(parsed, {
    github: gh,
    buildx: { version: opts.version ?? '0.29.1', raw: '' },
    env: opts.env ?? {},
    metadataFile: '/tmp/meta.json',
    ...(opts.definition ? { definition: opts.definition } : {}),
    warn: (m) => warnings.push(m),
  });
  const always = [
    '--allow',
    'fs=*',
    '--metadata-file',
    '/tmp/meta.json',
    '--provenance',
    `mode=max,builder-id=${RUN}`,
  ];
  const rest: string[] = [];
  for (let i = 0; i < out.buildxArgs.length; i++) {
    const pair = always.findIndex(
      (x, j) => j % 2 === 0 && x === out.buildxArgs[i] && always[j + 1] === out.buildxArgs[i + 1],
    );
    if (pair >= 0) i++;
    else rest.push(out.buildxArgs[i] as string);
  }
  return { ...out, rest, warnings, depot: depotArgs(parsed) };
}

describe('each input becomes the flags docker/bake-action v6 gives it', () => {
  it.each<[string, Record<string, string>, string[]]>([
    ['builder', { builder: 'remote' }, ['--builder', 'remote']],
    [
      'allow',
      { allow: 'network.host,security.insecure' },
      ['--allow', 'network.host', '--allow', 'security.insecure'],
    ],
    ['call', { call: 'check' }, ['--call', 'check']],
    [
      'files',
      { files: 'docker-bake.hcl\ncompose.yaml,extra.json' },
      ['--file', 'docker-bake.hcl', '--file', 'compose.yaml', '--file', 'extra.json'],
    ],
    ['no-cache', { 'no-cache': 'true' }, ['--no-cache']],
    ['pull', { pull: 'true' }, ['--pull']],
    ['load', { load: 'true' }, ['--load']],
    ['push', { push: 'true' }, ['--push']],
    ['sbom', { sbom: 'true' }, ['--sbom', 'true']],
    [
      'set, each its own --set',
      { set: '*.platform=linux/amd64,linux/arm64\napp.tags=r/app:1' },
      ['--set', '*.platform=linux/amd64,linux/arm64', '--set', 'app.tags=r/app:1'],
    ],
    ['set entries given twice are passed once', { set: 'a.x=1\na.x=1' }, ['--set', 'a.x=1']],
    ['allow fs=* given by the user is passed once', { allow: 'fs=*' }, []],
  ])('%s', (_n, inputs, want) => {
    expect(argsFor(inputs).rest).toEqual(want);
  });

  it('push and load are passed once each, and targets come last', () => {
    const { buildxArgs, positional } = argsFor({ push: 'true', targets: 'app,worker' });
    expect(buildxArgs.filter((a) => a === '--push')).toHaveLength(1);
    expect(positional).toEqual(['app', 'worker']);
  });

  it.each<[string, Record<string, string>, string]>([
    ['provenance true', { provenance: 'true' }, `builder-id=${RUN}`],
    ['provenance false', { provenance: 'false' }, 'false'],
    ['provenance attrs', { provenance: 'mode=min' }, `mode=min,builder-id=${RUN}`],
  ])('%s', (_n, inputs, want) => {
    const { buildxArgs } = argsFor(inputs);
    expect(buildxArgs[buildxArgs.indexOf('--provenance') + 1]).toBe(want);
  });

  it('default provenance: max for public, min for private; none with load or a docker exporter', () => {
    const prov = (a: string[]) => (a.includes('--provenance') ? a[a.indexOf('--provenance') + 1] : undefined);
    expect(prov(argsFor({}).buildxArgs)).toBe(`mode=max,builder-id=${RUN}`);
    expect(prov(argsFor({}, { github: { privateRepository: true } }).buildxArgs)).toBe(
      `mode=min,inline-only=true,builder-id=${RUN}`,
    );
    expect(prov(argsFor({ load: 'true' }).buildxArgs)).toBeUndefined();
    const definition = { target: { app: { output: [{ type: 'docker' }] } } };
    expect(prov(argsFor({}, { definition }).buildxArgs)).toBeUndefined();
    expect(
      prov(argsFor({}, { definition: { target: { app: { output: ['type=docker'] } } } }).buildxArgs),
    ).toBeUndefined();
    expect(prov(argsFor({}, { env: { BUILDX_NO_DEFAULT_ATTESTATIONS: 'true' } }).buildxArgs)).toBeUndefined();
  });
});

describe('source and workdir', () => {
  it('`.` builds the local files; empty means the git context, as a remote definition first', () => {
    expect(argsFor({ source: '.' }).positional).toEqual([]);
    expect(argsFor({ source: '', targets: 'app' }).positional).toEqual([GIT, 'app']);
    expect(argsFor({ source: '{{defaultContext}}:docker' }).positional).toEqual([`${GIT}:docker`]);
  });

  it('the GitHub token reaches bake (env, never argv) only for this server remote definitions', () => {
    const remote = argsFor({ source: '', 'github-token': 'ghs_tok' });
    expect(remote.env).toEqual({ BUILDX_BAKE_GIT_AUTH_TOKEN: 'ghs_tok' });
    expect(remote.buildxArgs.join(' ')).not.toContain('ghs_tok');
    expect(argsFor({ source: '.', 'github-token': 'ghs_tok' }).env).toEqual({});
    expect(argsFor({ source: 'https://evil.example/x.git', 'github-token': 'ghs_tok' }).env).toEqual({});
  });

  it('a workdir that does not exist is refused by name', () => {
    expect(() => argsFor({ workdir: join(mkdtempSync(join(tmpdir(), 'w-')), 'nope') })).toThrow(
      /Input `workdir`: .*nope does not exist or is not a directory\./,
    );
  });
});

describe('buildx version gates, as bake-action v6', () => {
  it('allow needs 0.17 (ignored with a warning before), fs=* from 0.18', () => {
    const old = argsFor({ allow: 'network.host' }, { version: '0.16.2' });
    expect(old.buildxArgs).not.toContain('--allow');
    expect(old.warnings).toEqual([
      'Input `allow` needs buildx >= 0.17.0 (this runner has 0.16.2): it is ignored.',
    ]);
    expect(argsFor({ allow: 'network.host' }, { version: '0.17.1' }).buildxArgs).not.toContain('fs=*');
    expect(argsFor({}, { version: '0.18.0' }).buildxArgs).toEqual(
      expect.arrayContaining(['--allow', 'fs=*']),
    );
  });

  it('call needs 0.16', () => {
    expect(() => argsFor({ call: 'check' }, { version: '0.15.1' })).toThrow(
      'Input `call` needs buildx >= 0.16.0; this runner has buildx 0.15.1.',
    );
  });
});

describe('our inputs', () => {
  it('become depot flags', () => {
    expect(
      argsFor({ save: 'true', 'save-tag': 'v1', lint: 'true', 'build-platform': 'dynamic' }).depot,
    ).toEqual(['--save', '--save-tag', 'v1', '--build-platform', 'dynamic', '--lint']);
  });

  it('cache-key becomes --cache-key for depot only, never a flag of plain buildx', () => {
    const r = argsFor({ 'cache-key': 'web', targets: 'app' });
    expect(r.depot).toEqual(['--cache-key', 'web']);
    expect(r.buildxArgs).not.toContain('--cache-key');
    expect(r.positional).toEqual(['app']);
    expect(argsFor({ 'cache-key': '' }).depot).toEqual([]);
  });
});
