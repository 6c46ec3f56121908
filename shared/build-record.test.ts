import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  buildRefs,
  buildxConfigDir,
  historySupport,
  metadataRefs,
  recordFilename,
  refsSince,
  retentionDays,
  uploadBuildRecord,
  uploadSkipped,
} from './build-record';
import type { RecordDeps } from './build-record';
import type { ExecOptions } from './exec';
import type { BuildReport } from './summary';

const root = mkdtempSync(join(tmpdir(), 'build-record-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** What @actions/core printed while `fn` ran. */
async function printed<T>(fn: () => Promise<T>): Promise<{ out: string; value: T }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    return { value: await fn(), out };
  } finally {
    spy.mockRestore();
  }
}

const RUNTIME = {
  ACTIONS_RUNTIME_TOKEN: 'header.payload.sig',
  ACTIONS_RESULTS_URL: 'http://127.0.0.1:1/',
  GITHUB_SERVER_URL: 'https://github.com',
  GITHUB_REPOSITORY: 'acme/web',
  GITHUB_RUN_ID: '4242',
};

describe('refs', () => {
  it('metadataRefs: the build’s ref, or each bake target’s; nothing from what is not a ref', () => {
    expect(metadataRefs(JSON.stringify({ 'buildx.build.ref': 'default/default/k43f6gy3' }))).toEqual([
      'default/default/k43f6gy3',
    ]);
    expect(
      metadataRefs(
        JSON.stringify({
          app: { 'buildx.build.ref': 'b/b0/aaa' },
          worker: { 'buildx.build.ref': 'b/b0/bbb' },
          'depot.build': { buildID: 'x' },
        }),
      ),
    ).toEqual(['b/b0/aaa', 'b/b0/bbb']);
    expect(metadataRefs(undefined)).toEqual([]);
    expect(metadataRefs('not json')).toEqual([]);
    expect(metadataRefs(JSON.stringify({ 'buildx.build.ref': 'no-slashes' }))).toEqual([]);
  });

  it('buildxConfigDir: BUILDX_CONFIG, else DOCKER_CONFIG/buildx, else ~/.docker/buildx', () => {
    expect(buildxConfigDir({ BUILDX_CONFIG: '/b', DOCKER_CONFIG: '/d' })).toBe('/b');
    expect(buildxConfigDir({ DOCKER_CONFIG: '/d' })).toBe('/d/buildx');
    expect(buildxConfigDir({ HOME: '/h' })).toBe('/h/.docker/buildx');
  });

  it('refsSince: a failed build’s ref from buildx’s refs dir, its own context first, newest next', () => {
    const config = join(root, 'buildx');
    const write = (builder: string, node: string, id: string, localPath: string, at: number) => {
      mkdirSync(join(config, 'refs', builder, node), { recursive: true });
      const file = join(config, 'refs', builder, node, id);
      writeFileSync(file, JSON.stringify({ Target: 'default', LocalPath: localPath, DockerfilePath: '' }));
      utimesSync(file, at / 1000, at / 1000);
    };
    const now = Date.now();
    write('default', 'default', 'old', '/work/app', now - 60_000);
    write('default', 'default', 'mine', '/work/app', now - 1_000);
    write('default', 'default', 'other', '/work/other', now);
    write('second', 'second0', 'elsewhere', '/work/app', now);
    mkdirSync(join(config, 'refs', '__group__'), { recursive: true });
    const env = { BUILDX_CONFIG: config };
    const since = now - 5_000;
    expect(refsSince({ builder: 'default', since, context: '/work/app', env })).toEqual([
      'default/default/mine',
      'default/default/other',
    ]);
    expect(refsSince({ builder: 'default', since, env })).toEqual([
      'default/default/other',
      'default/default/mine',
    ]);
    expect(refsSince({ since, env }).sort()).toEqual([
      'default/default/mine',
      'default/default/other',
      'second/second0/elsewhere',
    ]);
    expect(refsSince({ builder: 'missing', since, env })).toEqual([]);
    // The metadata's ref wins; without one, a build takes the first found, a bake all.
    const meta = JSON.stringify({ 'buildx.build.ref': 'default/default/meta' });
    expect(buildRefs({ metadata: meta, builder: 'default', since, env })).toEqual(['default/default/meta']);
    expect(buildRefs({ metadata: undefined, builder: 'default', since, context: '/work/app', env })).toEqual([
      'default/default/mine',
    ]);
    expect(buildRefs({ metadata: undefined, builder: 'default', since, env, bake: true })).toHaveLength(2);
  });

  it('recordFilename: docker’s', () => {
    expect(recordFilename('acme/web', ['default/default/k43f6gy3ylgnpe5n5vrb26nv3'])).toBe(
      'acme~web~K43F6G.dockerbuild',
    );
    expect(recordFilename('acme/web', ['b/b0/abcdefgh', 'b/b0/x', 'b/b0/y'])).toBe(
      'acme~web~ABCDEF+2.dockerbuild',
    );
  });

  it('historySupport: export from buildx 0.23, --finalize from 0.24', () => {
    expect(historySupport({ version: '0.29.1', raw: '' })).toEqual({ export: true, finalize: true });
    expect(historySupport({ version: '0.23.0', raw: '' })).toEqual({ export: true, finalize: false });
    expect(historySupport({ version: '0.22.0', raw: '' })).toEqual({ export: false, finalize: false });
  });
});

describe('env switches', () => {
  it('DOCKER_BUILD_RECORD_UPLOAD=false, a job without the Actions runtime, or GHES: no upload', () => {
    expect(uploadSkipped(RUNTIME)).toBeUndefined();
    expect(uploadSkipped({ ...RUNTIME, DOCKER_BUILD_RECORD_UPLOAD: 'false' })).toMatch(/disabled/);
    expect(uploadSkipped({ ...RUNTIME, DOCKER_BUILD_RECORD_UPLOAD: 'true' })).toBeUndefined();
    expect(uploadSkipped({ ...RUNTIME, ACTIONS_RUNTIME_TOKEN: '' })).toMatch(/no Actions runtime/);
    expect(uploadSkipped({ ...RUNTIME, ACTIONS_RESULTS_URL: undefined })).toMatch(/no Actions runtime/);
    expect(uploadSkipped({ ...RUNTIME, GITHUB_SERVER_URL: 'https://ghe.example.com' })).toMatch(/Enterprise/);
    expect(uploadSkipped({ ...RUNTIME, GITHUB_SERVER_URL: 'https://acme.ghe.com' })).toBeUndefined();
  });

  it('DOCKER_BUILD_RECORD_RETENTION_DAYS in days; the removed DOCKER_BUILD_EXPORT_RETENTION_DAYS does nothing', async () => {
    expect(retentionDays({ DOCKER_BUILD_RECORD_RETENTION_DAYS: '3' })).toBe(3);
    expect(retentionDays({ DOCKER_BUILD_EXPORT_RETENTION_DAYS: '3' })).toBeUndefined();
    expect(retentionDays({})).toBeUndefined();
    const { out, value } = await printed(() =>
      Promise.resolve(retentionDays({ DOCKER_BUILD_RECORD_RETENTION_DAYS: 'soon' })),
    );
    expect(value).toBeUndefined();
    expect(out).toContain('::warning::DOCKER_BUILD_RECORD_RETENTION_DAYS must be a whole number of days');
  });
});

function report(over: Partial<BuildReport> = {}): BuildReport {
  return {
    heading: 'Depot build',
    status: 'success',
    startedAt: 0,
    finishedAt: 1,
    call: '',
    tags: [],
    platforms: [],
    project: 'web',
    buildId: 'bld_1',
    isolated: 'no',
    builtWith: 'depot',
    inputs: {},
    refs: ['default/default/k43f6gy3ylgnpe5n5vrb26nv3'],
    history: { export: true, finalize: true },
    ...over,
  };
}

/** A fake docker that writes the --output file, and a fake upload, recording what they were given. */
function fakes(opts: { exit?: number; upload?: Error } = {}) {
  const calls: string[][] = [];
  const uploads: Array<{ file: string; days: number | undefined }> = [];
  const deps: RecordDeps = {
    env: { ...RUNTIME, RUNNER_TEMP: root, DOCKER_BUILD_RECORD_RETENTION_DAYS: '5' },
    exec: (_cmd: string, args: readonly string[], _o?: ExecOptions) => {
      calls.push([...args]);
      const out = args[args.indexOf('--output') + 1];
      if (!opts.exit && out) writeFileSync(out, 'record');
      return Promise.resolve({
        exitCode: opts.exit ?? 0,
        stdout: '',
        lastStderrLine: opts.exit ? 'ERROR: no record found' : '',
      });
    },
    upload: (file, days) => {
      uploads.push({ file, days });
      return opts.upload ? Promise.reject(opts.upload) : Promise.resolve({ id: 17, size: 6 });
    },
  };
  return { calls, uploads, deps };
}

describe('uploadBuildRecord', () => {
  it('exports with --finalize on the ref’s builder, uploads with the retention, links the artifact', async () => {
    const f = fakes();
    const { value, out } = await printed(() => uploadBuildRecord(report(), f.deps));
    expect(f.calls).toEqual([
      [
        'buildx',
        'history',
        'export',
        '--builder',
        'default',
        '--finalize',
        '--output',
        expect.stringMatching(/\/acme~web~K43F6G\.dockerbuild$/),
        'k43f6gy3ylgnpe5n5vrb26nv3',
      ],
    ]);
    expect(f.uploads).toEqual([{ file: expect.stringMatching(/K43F6G\.dockerbuild$/), days: 5 }]);
    expect(value).toEqual({
      name: 'acme~web~K43F6G.dockerbuild',
      url: 'https://github.com/acme/web/actions/runs/4242/artifacts/17',
      size: 6,
    });
    expect(out).toContain(
      'Artifact download URL: https://github.com/acme/web/actions/runs/4242/artifacts/17',
    );
  });

  it('no --finalize below buildx 0.24; nothing at all below 0.23 or without a ref', async () => {
    let f = fakes();
    await printed(() => uploadBuildRecord(report({ history: { export: true, finalize: false } }), f.deps));
    expect(f.calls[0]).not.toContain('--finalize');
    f = fakes();
    const below = await printed(() =>
      uploadBuildRecord(report({ history: { export: false, finalize: false } }), f.deps),
    );
    expect(below.value).toBeUndefined();
    expect(below.out).toContain('needs buildx >= 0.23');
    const none = await printed(() => uploadBuildRecord(report({ refs: [] }), f.deps));
    expect(none.value).toBeUndefined();
    expect(none.out).toContain('buildx wrote no build reference');
    expect(f.calls).toEqual([]);
  });

  it('without the Actions runtime: one info line, no export', async () => {
    const f = fakes();
    f.deps.env = { GITHUB_REPOSITORY: 'acme/web' };
    const { value, out } = await printed(() => uploadBuildRecord(report(), f.deps));
    expect(value).toBeUndefined();
    expect(out.trim()).toBe(
      'No build record upload: this job has no Actions runtime (ACTIONS_RUNTIME_TOKEN, ACTIONS_RESULTS_URL)',
    );
    expect(f.calls).toEqual([]);
  });

  it('an export or upload failure is a warning and no link', async () => {
    let f = fakes({ exit: 1 });
    let r = await printed(() => uploadBuildRecord(report(), f.deps));
    expect(r.value).toBeUndefined();
    expect(r.out).toContain('::warning::Build record not exported: ERROR: no record found');
    expect(f.uploads).toEqual([]);
    f = fakes({ upload: new Error('Failed to CreateArtifact: (403) Forbidden') });
    r = await printed(() => uploadBuildRecord(report(), f.deps));
    expect(r.value).toBeUndefined();
    expect(r.out).toContain(
      '::warning::Build record not uploaded: Failed to CreateArtifact: (403) Forbidden',
    );
  });
});
