import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { depotArgs } from '../../../shared/depot-inputs';
import type { GithubContext } from '../../../shared/github';
import { parseBuilderInspect } from '../../../shared/buildx';
import type { BuilderInfo } from '../../../shared/buildx';
import { bakeEnv, getInputs, printArgs, toArgs } from './inputs';
import type { BakeDefinition } from './inputs';
import { githubContext } from '../../../test/support/github-context';

afterEach(() => vi.unstubAllEnvs());

const RUN = 'https://github.com/acme/web/actions/runs/42/attempts/1';
const GIT = 'https://github.com/acme/web.git#abc123';
const github = githubContext();
/** A docker-container builder on BuildKit 0.26: default provenance allowed. */
const BUILDER = parseBuilderInspect(
  'Name: ci\nDriver: docker-container\n\nNodes:\nName: ci0\nStatus: running\nBuildKit version: v0.26.2\n',
);
/** What `bake --print` resolved, for the default provenance: one target, app, with no attest of its own. */
const DEFINITION: BakeDefinition = { target: { app: {} } };

interface Opts {
  version?: string;
  definition?: BakeDefinition;
  builder?: BuilderInfo | undefined;
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
  const builder = 'builder' in opts ? opts.builder : BUILDER;
  const ctx = {
    github: gh,
    buildx: { version: opts.version ?? '0.29.1', raw: '' },
    ...(builder ? { builder } : {}),
    env: opts.env ?? {},
    metadataFile: '/tmp/meta.json',
    definition: opts.definition ?? DEFINITION,
    warn: (m: string) => warnings.push(m),
  };
  const out = toArgs(parsed, ctx);
  const always = [
    '--allow',
    'fs=*',
    '--metadata-file',
    '/tmp/meta.json',
    '--set',
    `app.attest=type=provenance,mode=max,builder-id=${RUN}`,
  ];
  const rest: string[] = [];
  for (let i = 0; i < out.buildxArgs.length; i++) {
    const pair = always.findIndex(
      (x, j) => j % 2 === 0 && x === out.buildxArgs[i] && always[j + 1] === out.buildxArgs[i + 1],
    );
    if (pair >= 0) i++;
    else rest.push(out.buildxArgs[i] as string);
  }
  return {
    ...out,
    rest,
    warnings,
    inputs: parsed,
    env: bakeEnv(parsed, ctx),
    print: printArgs(parsed, ctx),
    depot: depotArgs(parsed),
  };
}

describe('each input becomes the flags docker/bake-action v7 gives it', () => {
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
    [
      'set keeps every value, in order (a later one overrides)',
      { set: 'a.x=1\na.y=2\na.x=1\na.x=3' },
      ['--set', 'a.x=1', '--set', 'a.y=2', '--set', 'a.x=1', '--set', 'a.x=3'],
    ],
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

  const provenanceSets = (a: string[]) => a.filter((x, i) => a[i - 1] === '--set' && x.includes('.attest='));

  it('default provenance, as bake-action v7: each target without one gets it; max for public, min for private', () => {
    const definition: BakeDefinition = {
      target: {
        app: {},
        worker: { attest: [{ type: 'sbom' }] },
        signed: { attest: [{ type: 'provenance', mode: 'min' }] },
        old: { attest: ['type=provenance,mode=max'] },
      },
    };
    expect(provenanceSets(argsFor({}, { definition }).buildxArgs)).toEqual([
      `app.attest=type=provenance,mode=max,builder-id=${RUN}`,
      `worker.attest=type=provenance,mode=max,builder-id=${RUN}`,
    ]);
    expect(provenanceSets(argsFor({}, { github: { privateRepository: true } }).buildxArgs)).toEqual([
      `app.attest=type=provenance,mode=min,inline-only=true,builder-id=${RUN}`,
    ]);
    expect(argsFor({}).buildxArgs).not.toContain('--provenance');
  });

  it.each<[string, Record<string, string>, Opts]>([
    ['load', { load: 'true' }, {}],
    [
      'a target exporting type=docker (object)',
      {},
      { definition: { target: { app: {}, img: { output: [{ type: 'docker' }] } } } },
    ],
    [
      'a target exporting type=docker (CSV)',
      {},
      { definition: { target: { app: {}, img: { output: ['type=docker,dest=x.tar'] } } } },
    ],
    ['BUILDX_NO_DEFAULT_ATTESTATIONS', {}, { env: { BUILDX_NO_DEFAULT_ATTESTATIONS: 'true' } }],
    [
      'a builder on BuildKit 0.10',
      {},
      {
        builder: parseBuilderInspect(
          'Name: b\nDriver: remote\n\nNodes:\nName: b0\nBuildKit version: v0.10.6\n',
        ),
      },
    ],
    [
      'the docker driver without -moby (this engine)',
      {},
      {
        builder: parseBuilderInspect(
          'Name: default\nDriver: docker\n\nNodes:\nName: default\nBuildKit version: v0.0.0+unknown\n',
        ),
      },
    ],
    ['a builder that could not be inspected', {}, { builder: undefined }],
  ])('no default provenance at all with %s', (_n, inputs, opts) => {
    expect(provenanceSets(argsFor(inputs, opts).buildxArgs)).toEqual([]);
  });

  it('a registry output is not a docker exporter', () => {
    const definition = { target: { app: { output: ['type=registry'] } } };
    expect(provenanceSets(argsFor({}, { definition }).buildxArgs)).toHaveLength(1);
  });
});

describe('source (v7) and workdir (v6)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'bake-src-'));
  mkdirSync(join(tmp, 'svc'));

  it('empty means the git context, as a remote definition first; a URL is a remote definition', () => {
    expect(argsFor({ source: '', targets: 'app' }).positional).toEqual([GIT, 'app']);
    expect(argsFor({ source: '{{defaultContext}}:docker' }).positional).toEqual([`${GIT}:docker`]);
    expect(argsFor({ source: 'git@github.com:acme/defs.git' }).positional).toEqual([
      'git@github.com:acme/defs.git',
    ]);
  });

  it('a local directory is where bake runs (v7), and `.` with workdir is v6', () => {
    const v7 = argsFor({ source: join(tmp, 'svc'), workdir: '.' });
    expect(v7.inputs.workdir).toBe(join(tmp, 'svc'));
    expect(v7.positional).toEqual([]);
    const v6 = argsFor({ source: '.', workdir: join(tmp, 'svc') });
    expect(v6.inputs.workdir).toBe(join(tmp, 'svc'));
    expect(v6.positional).toEqual([]);
    expect(argsFor({ source: '.', workdir: '.' }).inputs.workdir).toBe('.');
  });

  it('a local source and a workdir together are refused in one line', () => {
    expect(() => argsFor({ source: join(tmp, 'svc'), workdir: tmp })).toThrow(
      `Inputs \`source\` (${join(tmp, 'svc')}) and \`workdir\` (${tmp}) both set the directory bake runs in: keep \`source\` (bake-action v7) or \`workdir\` with \`source: .\` (v6).`,
    );
  });

  it('a source that is neither a URL nor a directory, or a workdir that does not exist, is refused by name', () => {
    expect(() => argsFor({ source: join(tmp, 'nope') })).toThrow(
      `Input \`source\`: ${join(tmp, 'nope')} is neither a git or https URL nor a directory.`,
    );
    expect(() => argsFor({ source: '.', workdir: join(tmp, 'nope') })).toThrow(
      `Input \`workdir\`: ${join(tmp, 'nope')} does not exist or is not a directory.`,
    );
  });

  it('the GitHub token reaches both bake runs (env, never argv) only for this server remote definitions', () => {
    const remote = argsFor({ source: '', 'github-token': 'ghs_tok' });
    expect(remote.env).toEqual({ BUILDX_BAKE_GIT_AUTH_TOKEN: 'ghs_tok' });
    expect([...remote.buildxArgs, ...remote.print].join(' ')).not.toContain('ghs_tok');
    expect(
      argsFor({ source: '', 'github-token': 'ghs_tok' }, { env: { BUILDX_BAKE_GIT_AUTH_TOKEN: 'mine' } }).env,
    ).toEqual({ BUILDX_BAKE_GIT_AUTH_TOKEN: 'mine' });
    expect(argsFor({ source: '.', 'github-token': 'ghs_tok' }).env).toEqual({});
    expect(argsFor({ source: 'https://evil.example/x.git', 'github-token': 'ghs_tok' }).env).toEqual({});
  });
});

describe('the definition read (`bake --print`), as bake-action v7 reads it', () => {
  it('has the same source, files, sets, vars, allow, call and shorthands as the build, then the targets', () => {
    const r = argsFor(
      {
        source: '',
        files: 'a.hcl',
        set: 'app.x=1\napp.x=2',
        allow: 'network.host',
        load: 'true',
        'no-cache': 'true',
        provenance: 'mode=min',
        sbom: 'true',
        targets: 'app,worker',
      },
      { version: '0.31.0' },
    );
    expect(r.print).toEqual([
      'buildx',
      'bake',
      GIT,
      '--file',
      'a.hcl',
      '--set',
      'app.x=1',
      '--set',
      'app.x=2',
      '--allow',
      'network.host',
      '--load',
      '--no-cache',
      '--provenance',
      `mode=min,builder-id=${RUN}`,
      '--sbom',
      'true',
      '--print',
      'app',
      'worker',
    ]);
  });
});

describe('buildx version gates, as bake-action v7', () => {
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

  it('vars needs 0.31 (the engine here has 0.29, whose bake says "unknown flag: --var"): refused before the definition is read', () => {
    for (const version of ['0.29.1', '0.30.1']) {
      expect(() => argsFor({ vars: 'TAG=1' }, { version })).toThrow(
        `Input \`vars\` needs buildx >= 0.31.0; this runner has buildx ${version}.`,
      );
    }
    const r = argsFor({ vars: 'TAG=1.2,3\nREG=ghcr.io' }, { version: '0.31.0' });
    expect(r.rest).toEqual(['--var', 'TAG=1.2,3', '--var', 'REG=ghcr.io']);
    expect(r.print).toEqual(expect.arrayContaining(['--var', 'TAG=1.2,3', '--var', 'REG=ghcr.io']));
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

describe('sbom-dir is not an input of bake', () => {
  it('a value the runner passes anyway never reaches depot bake', () => {
    expect(argsFor({ 'sbom-dir': 'sboms' }).depot).toEqual([]);
  });
});
