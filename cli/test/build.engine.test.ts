// depot build / bake / configure-docker against the real engine, with no project token (plain local builds).
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { depot, exec, PLAIN_REGISTRY, platformsOf, projects, unique } from './engine';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'depot-engine-'));
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

describe('depot build (real engine)', () => {
  it('builds two platforms and pushes one manifest list; the metadata file carries depot.build', async () => {
    const ref = `${PLAIN_REGISTRY}/examples/${unique('app')}:1`;
    const meta = join(tmp(), 'metadata.json');
    const r = await depot([
      'build',
      '--platform',
      'linux/amd64,linux/arm64',
      '-t',
      ref,
      '--push',
      '--metadata-file',
      meta,
      join(projects, 'app'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('no project token: building locally with no project cache');
    expect(await platformsOf(ref)).toEqual(['linux/amd64', 'linux/arm64']);
    const json = readJson(meta);
    const build = json['depot.build'] as { buildID: string; projectID: string; isolated: boolean };
    expect(build.isolated).toBe(false);
    expect(r.stderr).toContain(`build ID ${build.buildID}`);
    expect(json['containerimage.digest']).toMatch(/^sha256:/);
  });

  it('returns buildx non-zero status and its error for a failing Dockerfile', async () => {
    const meta = join(tmp(), 'metadata.json');
    const r = await depot(['build', '--metadata-file', meta, join(projects, 'failing')]);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBe(69);
    const last = r.stderr.trim().split('\n').at(-1) ?? '';
    expect(last).toMatch(/ERROR: .*did not complete successfully: exit code: 3/);
    // The failed build still names its build id, for the actions' outputs on failure (as docker's set them).
    expect(existsSync(meta)).toBe(true);
    expect(readJson(meta)['depot.build']).toMatchObject({ buildID: expect.stringMatching(/^[a-z0-9]{20}$/) });
    expect(r.stderr).toContain(`build ID ${(readJson(meta)['depot.build'] as { buildID: string }).buildID}`);
  });

  it('--lint reports the check warning and builds; --lint-fail-on warn stops before the build', async () => {
    const ok = await depot(['build', '--lint', join(projects, 'lint')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/lint warn: ConsistentInstructionCasing: .* \(Dockerfile:5\)/);
    const meta = join(tmp(), 'metadata.json');
    const stop = await depot([
      'build',
      '--lint',
      '--lint-fail-on',
      'warning',
      '--metadata-file',
      meta,
      join(projects, 'lint'),
    ]);
    expect(stop.code).toBe(1);
    expect(stop.stderr).toContain('at or above --lint-fail-on warn');
    expect(existsSync(meta)).toBe(false);
  });

  it('says in one line where --build-platform builds on a single local builder', async () => {
    const r = await depot(['build', '--build-platform', 'linux/arm64', join(projects, 'app')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('--build-platform linux/arm64: this builder is a single local BuildKit');
  });
});

describe('depot bake (real engine)', () => {
  it('builds two targets and writes both, plus depot.build, to the metadata file', async () => {
    const meta = join(tmp(), 'metadata.json');
    const repo = `${PLAIN_REGISTRY}/examples/${unique('bake')}`;
    const r = await depot(
      [
        'bake',
        '--metadata-file',
        meta,
        '--push',
        '--set',
        `app.tags=${repo}:app`,
        '--set',
        `worker.tags=${repo}:worker`,
      ],
      {},
      join(projects, 'bake'),
    );
    expect(r.code, r.stderr).toBe(0);
    const json = readJson(meta);
    expect(Object.keys(json).sort()).toEqual(['app', 'depot.build', 'worker']);
    expect((json.app as Record<string, string>)['containerimage.digest']).toMatch(/^sha256:/);
    expect((json.worker as Record<string, string>)['image.name']).toBe(`${repo}:worker`);
  });
});

describe('depot configure-docker (real engine)', () => {
  it('routes plain docker buildx build and docker build through depot, and --uninstall undoes it', async () => {
    const config = tmp();
    const env = { ...process.env, DOCKER_CONFIG: config, BUILDKIT_PROGRESS: 'plain' };
    const install = await depot(['configure-docker'], { DOCKER_CONFIG: config });
    expect(install.code, install.stderr).toBe(0);
    expect(install.stderr).toContain("installed depot's docker-buildx shim");

    const meta1 = join(config, 'm1.json');
    const viaBuildx = await exec(
      'docker',
      ['buildx', 'build', '--metadata-file', meta1, join(projects, 'app')],
      { env },
    );
    expect(viaBuildx.code, viaBuildx.stderr).toBe(0);
    expect(viaBuildx.stderr).toContain('depot: build ID');
    expect(readJson(meta1)['depot.build']).toBeDefined();

    const meta2 = join(config, 'm2.json');
    const viaBuild = await exec('docker', ['build', '--metadata-file', meta2, join(projects, 'app')], {
      env,
    });
    expect(viaBuild.code, viaBuild.stderr).toBe(0);
    expect(readJson(meta2)['depot.build']).toBeDefined();

    const ls = await exec('docker', ['buildx', 'ls'], { env });
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain('default');

    const uninstall = await depot(['configure-docker', '--uninstall'], { DOCKER_CONFIG: config });
    expect(uninstall.code, uninstall.stderr).toBe(0);
    expect(existsSync(join(config, 'cli-plugins', 'docker-buildx'))).toBe(false);
    const meta3 = join(config, 'm3.json');
    const plain = await exec('docker', ['buildx', 'build', '--metadata-file', meta3, join(projects, 'app')], {
      env,
    });
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).not.toContain('depot:');
    expect(readJson(meta3)['depot.build']).toBeUndefined();
  });
});
