import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseBuilderInspect } from '../../../shared/buildx';
import type { BuilderInfo, BuildxVersion } from '../../../shared/buildx';
import { depotArgs } from '../../../shared/depot-inputs';
import type { GithubContext } from '../../../shared/github';
import { writeSecretFile } from '../../../shared/tempdir';
import { getInputs, toArgs } from './inputs';
import { githubContext } from '../../../test/support/github-context';

afterEach(() => vi.unstubAllEnvs());

const dir = mkdtempSync(join(tmpdir(), 'bp-'));
const RUN = 'https://github.com/acme/web/actions/runs/42/attempts/1';
const GIT = 'https://github.com/acme/web.git#abc123';

const github = githubContext;

/** `docker buildx inspect` of a docker-container builder on BuildKit 0.26 (default provenance allowed). */
const BUILDER = parseBuilderInspect(
  'Name:   ci\nDriver: docker-container\n\nNodes:\nName:             ci0\nEndpoint:         unix:///var/run/docker.sock\nStatus:           running\nBuildKit version: v0.26.2\n',
);

function argsFor(
  inputs: Record<string, string>,
  opts: {
    buildx?: BuildxVersion;
    builder?: BuilderInfo | undefined;
    github?: Partial<GithubContext>;
    env?: Record<string, string>;
  } = {},
) {
  // The runner sets every input that has a default in action.yml.
  const defaults: Record<string, string> = {
    load: 'false',
    'no-cache': 'false',
    pull: 'false',
    push: 'false',
    save: 'false',
    'buildx-fallback': 'false',
    lint: 'false',
    'lint-fail-on': 'error',
  };
  for (const [k, v] of Object.entries({ context: '.', 'github-token': '', ...defaults, ...inputs })) {
    vi.stubEnv(`INPUT_${k.toUpperCase()}`, v);
  }
  const parsed = getInputs();
  const secrets: string[] = [];
  const warnings: string[] = [];
  const builder = 'builder' in opts ? opts.builder : BUILDER;
  const { buildxArgs, context } = toArgs(parsed, {
    github: github(opts.github),
    buildx: opts.buildx ?? { version: '0.29.1', raw: '' },
    ...(builder ? { builder } : {}),
    env: opts.env ?? {},
    warn: (m) => warnings.push(m),
    writeSecret: (v) => {
      secrets.push(v);
      return `/tmp/secret-${secrets.length}`;
    },
    iidFile: '/tmp/iid',
    metadataFile: '/tmp/meta.json',
  });
  // What is always there, tested once below, is cut from the table's expectations.
  const always = [
    '--iidfile',
    '/tmp/iid',
    '--metadata-file',
    '/tmp/meta.json',
    '--attest',
    `type=provenance,mode=max,builder-id=${RUN}`,
  ];
  const rest: string[] = [];
  for (let i = 0; i < buildxArgs.length; i++) {
    const a = buildxArgs[i] as string;
    const b = buildxArgs[i + 1];
    const pair = always.findIndex((x, j) => j % 2 === 0 && x === a && always[j + 1] === b);
    if (pair >= 0) i++;
    else rest.push(a);
  }
  return { all: buildxArgs, rest, context, secrets, warnings, depot: depotArgs(parsed) };
}

describe('each input becomes the flags docker/build-push-action v6 gives it', () => {
  it.each<[string, Record<string, string>, string[]]>([
    [
      'add-hosts',
      { 'add-hosts': 'docker:10.180.0.1,db:10.0.0.2' },
      ['--add-host', 'docker:10.180.0.1', '--add-host', 'db:10.0.0.2'],
    ],
    [
      'allow',
      { allow: 'network.host,security.insecure' },
      ['--allow', 'network.host', '--allow', 'security.insecure'],
    ],
    [
      'annotations',
      { annotations: 'index:org.opencontainers.image.title=a,b\nmanifest:x=y' },
      ['--annotation', 'index:org.opencontainers.image.title=a,b', '--annotation', 'manifest:x=y'],
    ],
    ['build-args', { 'build-args': 'A=1,2\nB="x y"' }, ['--build-arg', 'A=1,2', '--build-arg', 'B="x y"']],
    [
      'build-contexts',
      { 'build-contexts': 'alpine=docker-image://alpine:3\nsrc={{defaultContext}}' },
      ['--build-context', 'alpine=docker-image://alpine:3', '--build-context', `src=${GIT}`],
    ],
    [
      'cache-from',
      { 'cache-from': 'type=registry,ref=user/app:cache' },
      ['--cache-from', 'type=registry,ref=user/app:cache'],
    ],
    [
      'cache-to',
      { 'cache-to': 'type=registry,ref=user/app:cache,mode=max\ntype=inline' },
      ['--cache-to', 'type=registry,ref=user/app:cache,mode=max', '--cache-to', 'type=inline'],
    ],
    ['call', { call: 'check' }, ['--call', 'check']],
    ['cgroup-parent', { 'cgroup-parent': 'ci' }, ['--cgroup-parent', 'ci']],
    ['file', { file: 'docker/Dockerfile.prod' }, ['--file', 'docker/Dockerfile.prod']],
    [
      'labels',
      { labels: 'org.opencontainers.image.source=x,y\na=b' },
      ['--label', 'org.opencontainers.image.source=x,y', '--label', 'a=b'],
    ],
    [
      'no-cache-filters',
      { 'no-cache-filters': 'build,test' },
      ['--no-cache-filter', 'build', '--no-cache-filter', 'test'],
    ],
    [
      'platforms',
      { platforms: 'linux/amd64,linux/arm64\nlinux/riscv64' },
      ['--platform', 'linux/amd64,linux/arm64,linux/riscv64'],
    ],
    [
      'secret-envs',
      { 'secret-envs': 'NPM=NPM_TOKEN,GH=GH_TOKEN' },
      ['--secret', 'id=NPM,env=NPM_TOKEN', '--secret', 'id=GH,env=GH_TOKEN'],
    ],
    ['shm-size', { 'shm-size': '2g' }, ['--shm-size', '2g']],
    ['ssh', { ssh: 'default,key=/k' }, ['--ssh', 'default', '--ssh', 'key=/k']],
    [
      'tags',
      { tags: 'user/app:latest\nuser/app:1.0,user/app:1' },
      ['--tag', 'user/app:latest', '--tag', 'user/app:1.0', '--tag', 'user/app:1'],
    ],
    ['target', { target: 'prod' }, ['--target', 'prod']],
    [
      'ulimit',
      { ulimit: 'nofile=1024:1024\nnproc=10' },
      ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=10'],
    ],
    ['builder', { builder: 'remote' }, ['--builder', 'remote']],
    ['network', { network: 'host' }, ['--network', 'host']],
    ['no-cache', { 'no-cache': 'true' }, ['--no-cache']],
    ['pull', { pull: 'True' }, ['--pull']],
    ['push', { push: 'TRUE' }, ['--push']],
    ['sbom', { sbom: 'true' }, ['--attest', 'type=sbom,disabled=false']],
    ['sbom off', { sbom: 'false' }, ['--attest', 'type=sbom,disabled=true']],
    ['attests', { attests: 'type=sbom,generator=image' }, ['--attest', 'type=sbom,generator=image']],
  ])('%s', (_name, inputs, want) => {
    expect(argsFor(inputs).rest).toEqual(want);
  });

  it('always writes the image id and the metadata file, and the context goes last', () => {
    const { all, context } = argsFor({ context: 'app' });
    expect(all).toEqual(
      expect.arrayContaining(['--iidfile', '/tmp/iid', '--metadata-file', '/tmp/meta.json']),
    );
    expect(context).toBe('app');
  });

  it('keeps an unquoted cache-to with commas as one item, and outputs unquoted', () => {
    const { all } = argsFor({ outputs: 'type=local,dest="./out dir"' });
    expect(all).toContain('type=local,dest="./out dir"');
    // A local exporter has no image id.
    expect(all).not.toContain('--iidfile');
  });
});

describe('provenance, as docker/build-push-action v6 defaults it', () => {
  const attests = (r: { all: string[] }) => r.all.filter((_, i, a) => a[i - 1] === '--attest');
  it.each<[string, Record<string, string>, Partial<GithubContext>, Record<string, string>, string[]]>([
    ['public repository: mode max', {}, {}, {}, [`type=provenance,mode=max,builder-id=${RUN}`]],
    [
      'private repository: mode min, inline only',
      {},
      { privateRepository: true },
      {},
      [`type=provenance,mode=min,inline-only=true,builder-id=${RUN}`],
    ],
    ['provenance: true', { provenance: 'true' }, {}, {}, [`type=provenance,builder-id=${RUN}`]],
    ['provenance: false', { provenance: 'false' }, {}, {}, ['type=provenance,disabled=true']],
    [
      'provenance: mode=max',
      { provenance: 'mode=max' },
      {},
      {},
      [`type=provenance,mode=max,builder-id=${RUN}`],
    ],
    [
      'provenance with builder-id kept',
      { provenance: 'mode=min,builder-id=me' },
      {},
      {},
      ['type=provenance,mode=min,builder-id=me'],
    ],
    [
      'attests with provenance: no default',
      { attests: 'type=provenance,mode=min' },
      {},
      {},
      [`type=provenance,mode=min,builder-id=${RUN}`],
    ],
    ['load: no default', { load: 'true' }, {}, {}, []],
    ['docker output: no default', { outputs: 'type=docker' }, {}, {}, []],
    ['BUILDX_NO_DEFAULT_ATTESTATIONS', {}, {}, { BUILDX_NO_DEFAULT_ATTESTATIONS: '1' }, []],
  ])('%s', (_name, inputs, gh, env, want) => {
    expect(attests(argsFor(inputs, { github: gh, env }))).toEqual(want);
  });
});

describe('secrets', () => {
  it('go to files; the argv holds only their ids and paths', () => {
    const r = argsFor({ secrets: 'NPM_TOKEN=npm_s3cr3t\nMULTI= with spaces ' });
    expect(r.secrets).toEqual(['npm_s3cr3t', ' with spaces ']);
    expect(r.rest).toEqual([
      '--secret',
      'id=NPM_TOKEN,src=/tmp/secret-1',
      '--secret',
      'id=MULTI,src=/tmp/secret-2',
    ]);
    expect(r.all.join(' ')).not.toContain('npm_s3cr3t');
  });

  it('the GitHub token is a GIT_AUTH_TOKEN secret for this repository git context only', () => {
    const own = argsFor({ context: '', 'github-token': 'ghs_abc' });
    expect(own.context).toBe(GIT);
    expect(own.rest).toEqual(['--secret', 'id=GIT_AUTH_TOKEN.github.com,src=/tmp/secret-1']);
    expect(own.secrets).toEqual(['ghs_abc']);
    expect(argsFor({ context: '.', 'github-token': 'ghs_abc' }).secrets).toEqual([]);
    expect(argsFor({ context: 'https://evil.example/x.git', 'github-token': 'ghs_abc' }).secrets).toEqual([]);
    expect(
      argsFor({ context: '', 'github-token': 'ghs_abc', secrets: 'GIT_AUTH_TOKEN=mine' }).secrets,
    ).toEqual(['mine']);
  });

  it('a secret-files path that does not exist is skipped with a warning naming the secret, as docker does', () => {
    const file = join(dir, 'key');
    writeFileSync(file, 'x');
    expect(argsFor({ 'secret-files': `KEY=${file}` }).rest).toEqual(['--secret', `id=KEY,src=${file}`]);
    const r = argsFor({ 'secret-files': `GONE=/nope/key\nKEY=${file}` });
    expect(r.rest).toEqual(['--secret', `id=KEY,src=${file}`]);
    expect(r.warnings).toEqual([
      'Input `secret-files`: the file for secret GONE does not exist (/nope/key): the secret is skipped.',
    ]);
  });

  it('an empty secret (a fork or Dependabot run) is skipped with a warning naming its id, and the build goes on', () => {
    const r = argsFor({ secrets: 'NPM_TOKEN=\nGH=ghp_s3cr3t' });
    expect(r.rest).toEqual(['--secret', 'id=GH,src=/tmp/secret-1']);
    expect(r.secrets).toEqual(['ghp_s3cr3t']);
    expect(r.warnings).toEqual([
      "Input `secrets`: the secret NPM_TOKEN is empty (a fork's or Dependabot's run cannot read repository secrets): it is skipped.",
    ]);
  });

  it.each<[string, Record<string, string>, string]>([
    [
      'secrets without =',
      { secrets: 'bare_s3cr3t_value' },
      'Input `secrets`: an entry is not KEY=value (one per line): it is skipped.',
    ],
    [
      'secrets without a key',
      { secrets: '=s3cr3t_value' },
      'Input `secrets`: an entry is not KEY=value (one per line): it is skipped.',
    ],
    [
      'secret-envs without =',
      { 'secret-envs': 'NPM_TOKEN' },
      'Input `secret-envs`: an entry is not KEY=value (one per line): it is skipped.',
    ],
    [
      'secret-envs with no variable',
      { 'secret-envs': 'NPM=' },
      'Input `secret-envs`: the entry for NPM has nothing after `=`: it is skipped.',
    ],
    [
      'secret-files with no path',
      { 'secret-files': 'KEY=' },
      'Input `secret-files`: the entry for KEY has nothing after `=`: it is skipped.',
    ],
  ])('%s: skipped with a warning that never repeats a value', (_n, inputs, warning) => {
    const r = argsFor(inputs);
    expect(r.rest).toEqual([]);
    expect(r.warnings).toEqual([warning]);
    expect(r.warnings.join(' ')).not.toMatch(/s3cr3t/);
  });

  it('a malformed secret-envs entry does not stop the good ones', () => {
    expect(argsFor({ 'secret-envs': 'BAD,NPM=NPM_TOKEN' }).rest).toEqual([
      '--secret',
      'id=NPM,env=NPM_TOKEN',
    ]);
  });

  it('writeSecretFile makes 0600 files', () => {
    const f = writeSecretFile(dir, 'v');
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(readFileSync(f, 'utf8')).toBe('v');
  });
});

describe('buildx version gates, as docker/build-push-action', () => {
  const old = (version: string) => ({ buildx: { version, raw: '' } });
  // input, value, the last buildx without it, the first with it, the flags it gives
  it.each<[string, Record<string, string>, string, string, string[]]>([
    ['annotations', { annotations: 'manifest:a=b' }, '0.11.2', '0.12.0', ['--annotation', 'manifest:a=b']],
    [
      'build-contexts',
      { 'build-contexts': 'a=docker-image://alpine' },
      '0.7.1',
      '0.8.0',
      ['--build-context', 'a=docker-image://alpine'],
    ],
    ['attests', { attests: 'type=sbom' }, '0.9.1', '0.10.0', ['--attest', 'type=sbom']],
    [
      'provenance',
      { provenance: 'mode=min' },
      '0.9.1',
      '0.10.0',
      ['--attest', `type=provenance,mode=min,builder-id=${RUN}`],
    ],
    ['sbom', { sbom: 'true' }, '0.9.1', '0.10.0', ['--attest', 'type=sbom,disabled=false']],
  ])('%s: ignored with a warning below buildx %s, passed from %s', (input, inputs, below, from, flags) => {
    const before = argsFor(inputs, old(below));
    expect(before.rest).toEqual([]);
    expect(before.warnings).toEqual([
      `Input \`${input}\` needs buildx >= ${from} (this runner has ${below}): it is ignored.`,
    ]);
    const at = argsFor(inputs, old(from));
    expect(at.all).toEqual(expect.arrayContaining(flags));
    expect(at.warnings).toEqual([]);
  });

  it('call fails below buildx 0.15.0, naming the input and both versions', () => {
    expect(() => argsFor({ call: 'check' }, old('0.14.1'))).toThrow(
      'Input `call` needs buildx >= 0.15.0; this runner has buildx 0.14.1.',
    );
    expect(argsFor({ call: 'check' }, old('0.15.0')).rest).toEqual(['--call', 'check']);
  });

  it('an old buildx gets no default provenance, and no warning for it', () => {
    const r = argsFor({}, old('0.9.1'));
    expect(r.all).not.toContain('--attest');
    expect(r.warnings).toEqual([]);
  });

  it('an unreadable buildx version is treated as current', () => {
    expect(argsFor({ call: 'check' }, { buildx: { raw: 'dev' } }).rest).toEqual(['--call', 'check']);
  });
});

describe("default provenance is gated on the builder's BuildKit (>= 0.11), not on buildx", () => {
  const inspect = (driver: string, ...versions: string[]) =>
    parseBuilderInspect(
      `Name:          b\nDriver:        ${driver}\nLast Activity: 2026-11-30 12:00:00 +0000 UTC\n\nNodes:\n` +
        versions
          .map(
            (v, i) =>
              `Name:             b${i}\nEndpoint:         e${i}\nStatus:           running\n${v ? `BuildKit version: ${v}\n` : ''}Platforms:        linux/amd64\nLabels:\n org.mobyproject.buildkit.worker.executor: oci\n`,
          )
          .join(''),
    );
  const hasDefault = (builder: BuilderInfo | undefined) =>
    argsFor({}, { builder }).all.includes(`type=provenance,mode=max,builder-id=${RUN}`);
  it.each<[string, BuilderInfo | undefined, boolean]>([
    ['docker-container, BuildKit v0.11.0', inspect('docker-container', 'v0.11.0'), true],
    ['docker-container, BuildKit v0.10.6', inspect('docker-container', 'v0.10.6'), false],
    ['remote, two nodes, one v0.10.6', inspect('remote', 'v0.12.0', 'v0.10.6'), false],
    ['remote, two nodes, both new', inspect('remote', 'v0.12.0', 'v0.20.1'), true],
    ['docker driver, moby v0.12.5-moby', inspect('docker', 'v0.12.5-moby'), true],
    ['docker driver, a version without -moby', inspect('docker', 'v0.16.0'), false],
    ['docker driver, Debian v0.0.0+unknown', inspect('docker', 'v0.0.0+unknown'), false],
    ['a commit as the version', inspect('docker-container', '3fab389'), false],
    ['a node with no version', inspect('docker-container', ''), false],
    ['no inspect output (it failed)', undefined, false],
  ])('%s: %s', (_n, builder, want) => {
    expect(hasDefault(builder)).toBe(want);
  });

  it('a buildx that allows attestations with a BuildKit below 0.11: no default provenance', () => {
    expect(
      argsFor({}, { buildx: { version: '0.29.1', raw: '' }, builder: inspect('docker-container', 'v0.10.0') })
        .all,
    ).not.toContain('--attest');
  });
});

describe('our inputs become depot flags', () => {
  it.each<[Record<string, string>, string[]]>([
    [
      { save: 'true', 'save-tag': 'v1', 'save-tags': 'a,b' },
      ['--save', '--save-tag', 'v1', '--save-tag', 'a', '--save-tag', 'b'],
    ],
    [{ 'build-platform': 'linux/arm64' }, ['--build-platform', 'linux/arm64']],
    [{ 'cache-key': 'images/web' }, ['--cache-key', 'images/web']],
    [{ lint: 'true', 'lint-fail-on': 'warning' }, ['--lint', '--lint-fail-on', 'warn']],
    [{ lint: 'true', 'lint-fail-on': 'none' }, ['--lint', '--lint-fail-on', 'none']],
    [{ 'sbom-dir': 'sboms' }, ['--sbom-dir', 'sboms']],
    [{}, []],
  ])('%j', (inputs, want) => {
    expect(argsFor(inputs).depot).toEqual(want);
  });

  it('cache-key is a depot flag only: never among the flags plain buildx gets', () => {
    const r = argsFor({ 'cache-key': 'images-api', target: 'prod' });
    expect(r.depot).toEqual(['--cache-key', 'images-api']);
    expect(r.all.join(' ')).not.toMatch(/cache-key|images-api/);
  });

  it.each<[Record<string, string>, string]>([
    [
      { 'build-platform': 'windows/amd64' },
      'Input `build-platform` must be one of dynamic, linux/amd64, linux/arm64',
    ],
    [{ 'lint-fail-on': 'fatal' }, 'Input `lint-fail-on` must be one of error, warn, info, none'],
    [{ save: 'yes' }, 'Input `save` must be true or false, got "yes".'],
    [{ 'broker-url': 'broker' }, 'Input `broker-url` must be an http(s) URL'],
  ])('refuses %j', (inputs, message) => {
    expect(() => argsFor(inputs)).toThrow(message);
  });
});
