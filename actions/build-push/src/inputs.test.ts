import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BuildxVersion } from '../../../shared/buildx';
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

function argsFor(
  inputs: Record<string, string>,
  opts: { buildx?: BuildxVersion; github?: Partial<GithubContext>; env?: Record<string, string> } = {},
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
  const { buildxArgs, context } = toArgs(parsed, {
    github: github(opts.github),
    buildx: opts.buildx ?? { version: '0.29.1', raw: '' },
    env: opts.env ?? {},
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
  return { all: buildxArgs, rest, context, secrets, depot: depotArgs(parsed) };
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

  it('secret-files must exist', () => {
    const file = join(dir, 'key');
    writeFileSync(file, 'x');
    expect(argsFor({ 'secret-files': `KEY=${file}` }).rest).toEqual(['--secret', `id=KEY,src=${file}`]);
    expect(() => argsFor({ 'secret-files': 'KEY=/nope/key' })).toThrow(
      'Input `secret-files`: the file for secret KEY does not exist: /nope/key',
    );
  });

  it.each(['NOVALUE', '=value', 'KEY='])('a malformed entry %j fails without echoing a value', (entry) => {
    expect(() => argsFor({ secrets: entry })).toThrow(/Input `secrets`: .* is not KEY=value/);
    try {
      argsFor({ secrets: entry });
    } catch (e) {
      expect((e as Error).message).not.toContain('value"');
    }
  });

  it('writeSecretFile makes 0600 files', () => {
    const f = writeSecretFile(dir, 'v');
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(readFileSync(f, 'utf8')).toBe('v');
  });
});

describe('buildx version gates', () => {
  it.each<[string, Record<string, string>, string, string]>([
    [
      'call',
      { call: 'check' },
      '0.14.1',
      'Input `call` needs buildx >= 0.15.0; this runner has buildx 0.14.1.',
    ],
    ['annotations', { annotations: 'a=b' }, '0.11.2', 'Input `annotations` needs buildx >= 0.12.0'],
    ['build-contexts', { 'build-contexts': 'a=b' }, '0.7.0', 'Input `build-contexts` needs buildx >= 0.8.0'],
    ['attests', { attests: 'type=sbom' }, '0.9.1', 'Input `attests` needs buildx >= 0.10.0'],
  ])('%s on an old buildx fails naming the input and version', (_n, inputs, version, message) => {
    expect(() => argsFor(inputs, { buildx: { version, raw: '' } })).toThrow(message);
  });

  it('an old buildx gets no default provenance, and no error for it', () => {
    expect(argsFor({}, { buildx: { version: '0.9.1', raw: '' } }).all).not.toContain('--attest');
  });

  it('an unreadable buildx version is treated as current', () => {
    expect(argsFor({ call: 'check' }, { buildx: { raw: 'dev' } }).rest).toEqual(['--call', 'check']);
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
