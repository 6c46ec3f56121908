// The project cache, isolation, the user's own registry login and saved builds, against the real engine and a
// token-auth cache registry (distribution 2.8) whose token service is the real broker (test/support/stack.ts).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachedSteps, depot, digestOf, exec, PLAIN_REGISTRY, platformsOf, projects, unique } from './engine';
import type { Result } from './engine';
import { startCacheFixture, touches, writesTo } from './cache-fixture';
import type { CacheFixture } from './cache-fixture';
import { freePort } from '../../test/support/ports';
import { startLoginRegistry } from './registries';
import { projectToken } from './tokens';
import type { Registry } from './registries';

const app = join(projects, 'app');
/** Build steps of this run only: a concurrent run on the same BuildKit (another `npm test`) shares no vertex. */
const RUN = ['--build-arg', `RUN_ID=${unique('-run')}`];
let cache: CacheFixture;
let login: Registry;

beforeAll(async () => {
  cache = await startCacheFixture();
  login = await startLoginRegistry('alice', 'alice-registry-password');
});
afterAll(async () => {
  await cache?.stop();
  await login?.stop();
});

function all(r: Result): string {
  return `${r.stdout}${r.stderr}`;
}

async function prune(): Promise<void> {
  const r = await exec('docker', ['buildx', 'prune', '-af']);
  expect(r.code, r.stderr).toBe(0);
}

let saved1: { buildID: string; digest: string } | undefined;

describe('saved builds (real engine)', () => {
  it('saves a two-platform build, pulls it, and pushes it to another registry with the same digest', async () => {
    const token = await cache.token();
    const meta = join(mkdtempSync(join(tmpdir(), 'depot-save-')), 'metadata.json');
    const saved = await depot(
      ['build', '--save', '--platform', 'linux/amd64,linux/arm64', '--metadata-file', meta, app],
      { DEPOT_TOKEN: token },
    );
    expect(saved.code, saved.stderr).toBe(0);
    const json = JSON.parse(readFileSync(meta, 'utf8')) as Record<string, unknown>;
    const build = json['depot.build'] as { buildID: string; projectID: string };
    expect(build.projectID).toBe('web');
    expect(saved.stderr).toContain(`saved as ${cache.host}/builds/web:${build.buildID}`);
    const digest = json['containerimage.digest'] as string;
    saved1 = { buildID: build.buildID, digest };

    const local = `depot-test/${unique('pulled')}:1`;
    const pulled = await depot(['pull', '-t', local, JSON.stringify(build)], { DEPOT_TOKEN: token });
    expect(pulled.code, pulled.stderr).toBe(0);
    const inspect = await exec('docker', ['image', 'inspect', local, '--format', '{{.Architecture}}']);
    expect(inspect.stdout.trim()).toBe('amd64');

    const target = `${PLAIN_REGISTRY}/examples/${unique('pushed')}:1`;
    const pushed = await depot(['push', '-t', target, build.buildID], { DEPOT_TOKEN: token });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(await digestOf(target)).toBe(digest);
    expect(await platformsOf(target)).toEqual(['linux/amd64', 'linux/arm64']);
    for (const r of [saved, pulled, pushed]) expect(all(r)).not.toContain(token);
  });

  it("pushes a saved build with the user's own login for the target registry", async () => {
    expect(saved1).toBeDefined();
    const { buildID, digest } = saved1 as { buildID: string; digest: string };
    const home = mkdtempSync(join(tmpdir(), 'depot-user-'));
    const env = { ...process.env, DOCKER_CONFIG: home };
    const token = await cache.token();
    const target = `${login.host}/team/${unique('pushed')}:1`;
    const refused = await depot(['push', '-t', target, buildID], { DEPOT_TOKEN: token, DOCKER_CONFIG: home });
    expect(refused.code).not.toBe(0);
    const loggedIn = await exec('docker', ['login', login.host, '-u', 'alice', '--password-stdin'], {
      env,
      input: 'alice-registry-password',
    });
    expect(loggedIn.code, loggedIn.stderr).toBe(0);
    const pushed = await depot(['push', '-t', target, buildID], { DEPOT_TOKEN: token, DOCKER_CONFIG: home });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(await digestOf(target, env)).toBe(digest);
    expect(`${all(refused)}${all(pushed)}`).not.toMatch(new RegExp(`${token}|alice-registry-password`));
  });

  it('lets a second project save the same layers', async () => {
    const token = await cache.token('full', 'api');
    const r = await depot(['build', '--save', app], { DEPOT_TOKEN: token });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`saved as ${cache.host}/builds/api:`);
  });

  it('refuses to pull a build of another project with this token', async () => {
    const token = await cache.token('full', 'api');
    const r = await depot(['pull', '--project', 'web', 'abc'], { DEPOT_TOKEN: token });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('The project token is for project "api", but --project names "web"');
  });
});

describe('depot bake with a project token (real engine)', () => {
  it('exports one cache per target and saves each target', async () => {
    const token = await cache.token();
    const meta = join(mkdtempSync(join(tmpdir(), 'depot-bake-')), 'metadata.json');
    const r = await depot(
      ['bake', '--save', '--metadata-file', meta],
      { DEPOT_TOKEN: token },
      join(projects, 'bake'),
    );
    expect(r.code, r.stderr).toBe(0);
    for (const target of ['app', 'worker']) {
      expect(writesTo(cache.log(), 'cache/web').some((l) => l.includes(`/manifests/${target} `))).toBe(true);
    }
    const build = (JSON.parse(readFileSync(meta, 'utf8')) as Record<string, { buildID: string }>)[
      'depot.build'
    ];
    expect(
      writesTo(cache.log(), 'builds/web').some((l) => l.includes(`/manifests/${build?.buildID}-worker `)),
    ).toBe(true);
    expect(all(r)).not.toContain(token);
  });
});

describe('depot bake --save with tagged targets (real engine)', () => {
  it('pushes the targets to their own tags and saves them under the build id', async () => {
    const token = await cache.token();
    const meta = join(mkdtempSync(join(tmpdir(), 'depot-bake-')), 'metadata.json');
    const repo = `${PLAIN_REGISTRY}/examples/${unique('bake-save')}`;
    const r = await depot(
      [
        'bake',
        '--save',
        '--push',
        '--metadata-file',
        meta,
        '--set',
        `app.tags=${repo}:app`,
        '--set',
        `worker.tags=${repo}:worker`,
      ],
      { DEPOT_TOKEN: token },
      join(projects, 'bake'),
    );
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(meta, 'utf8')) as Record<string, Record<string, string>>;
    const id = json['depot.build']?.buildID;
    expect(await platformsOf(`${repo}:app`)).toEqual(['linux/amd64']);
    expect(await platformsOf(`${repo}:worker`)).toEqual(['linux/amd64']);
    const log = writesTo(cache.log(), 'builds/web');
    for (const t of ['app', 'worker'])
      expect(log.some((l) => l.includes(`/manifests/${id}-${t} `))).toBe(true);
    // The user's own tags went to the user's registry only, not into the saved builds.
    expect(log.some((l) => /\/manifests\/(app|worker) /.test(l))).toBe(false);
  });
});

describe('the project cache (real engine)', () => {
  it('imports the project cache after the builder was pruned; with no token it does not', async () => {
    const token = await cache.token();
    const first = await depot(['build', ...RUN, app], { DEPOT_TOKEN: token });
    expect(first.code, first.stderr).toBe(0);
    await prune();
    const warm = await depot(['build', ...RUN, app], { DEPOT_TOKEN: token });
    expect(warm.code, warm.stderr).toBe(0);
    expect(all(warm)).toContain(`importing cache manifest from ${cache.host}/cache/web:default`);
    expect(cachedSteps(all(warm))).toHaveLength(3);
    await prune();
    const control = await depot(['build', ...RUN, app]);
    expect(control.code, control.stderr).toBe(0);
    expect(cachedSteps(all(control))).toEqual([]);
    for (const r of [first, warm]) expect(all(r)).not.toContain(token);
  });

  it('builds an isolated token with no cache import or export, and says why', async () => {
    const token = await cache.token('isolated');
    const before = cache.log().length;
    const r = await depot(['build', '--debug', ...RUN, app], { DEPOT_TOKEN: token });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('this build is isolated');
    expect(all(r)).not.toMatch(/importing cache|exporting cache|--cache-(from|to)/);
    expect(touches(cache.log().slice(before), 'cache')).toEqual([]);
    const save = await depot(['build', '--save', app], { DEPOT_TOKEN: token });
    expect(save.code).toBe(1);
    expect(save.stderr).toContain('isolated builds cannot --save');
  });

  it('keeps an isolated build out of the cache even when it passes cache flags itself', async () => {
    const token = await cache.token('isolated');
    const before = cache.log().length;
    const ref = `${cache.host}/cache/web:default`;
    const r = await depot(
      [
        'build',
        '--cache-from',
        `type=registry,ref=${ref}`,
        '--cache-to',
        `type=registry,ref=${ref},mode=max,ignore-error=true`,
        app,
      ],
      { DEPOT_TOKEN: token },
    );
    expect(r.code, r.stderr).toBe(0);
    // BuildKit tried both, and the registry (asking the broker) refused them.
    expect(all(r)).toMatch(/importing cache manifest[^\n]*\n[^\n]*ERROR: [^\n]*failed to authorize/);
    expect(all(r)).toContain('exporting cache to registry');
    const during = cache.log().slice(before);
    expect(touches(during, 'cache/web').length).toBeGreaterThan(0);
    expect(writesTo(during, 'cache/web')).toEqual([]);
  });

  it('imports and never exports with a cache:read token', async () => {
    await prune();
    const token = await cache.token('read');
    const before = cache.log().length;
    const r = await depot(['build', ...RUN, app], { DEPOT_TOKEN: token });
    expect(r.code, r.stderr).toBe(0);
    expect(all(r)).toContain(`importing cache manifest from ${cache.host}/cache/web:default`);
    expect(cachedSteps(all(r))).toHaveLength(3);
    expect(all(r)).not.toContain('exporting cache');
    const during = cache.log().slice(before);
    expect(touches(during, 'cache/web').length).toBeGreaterThan(0);
    expect(writesTo(during, 'cache/web')).toEqual([]);
  });

  it("keeps the user's own docker login for the image push while the project cache is on", async () => {
    const home = mkdtempSync(join(tmpdir(), 'depot-user-'));
    const env = { ...process.env, DOCKER_CONFIG: home };
    const loggedIn = await exec('docker', ['login', login.host, '-u', 'alice', '--password-stdin'], {
      env,
      input: 'alice-registry-password',
    });
    expect(loggedIn.code, loggedIn.stderr).toBe(0);
    const userConfig = readFileSync(join(home, 'config.json'), 'utf8');
    const token = await cache.token();
    const ref = `${login.host}/team/app:1`;
    const r = await depot(['build', '-t', ref, '--push', app], { DEPOT_TOKEN: token, DOCKER_CONFIG: home });
    expect(r.code, r.stderr).toBe(0);
    expect(all(r)).toContain('exporting cache');
    expect(await platformsOf(ref, env)).toEqual(['linux/amd64']);
    expect(readFileSync(join(home, 'config.json'), 'utf8')).toBe(userConfig);
    expect(all(r)).not.toContain(token);
    writeFileSync(join(home, 'config.json'), '{}');
    const anonymous = await exec('docker', ['buildx', 'imagetools', 'inspect', ref], { env });
    expect(anonymous.code).not.toBe(0);
  });

  it("reaches the cache when the user's docker config has a credsStore (docker then ignores auths)", async () => {
    const home = mkdtempSync(join(tmpdir(), 'depot-user-'));
    writeFileSync(join(home, 'config.json'), JSON.stringify({ credsStore: 'depot-test-none' }));
    const token = await cache.token('full', 'api');
    const before = cache.log().length;
    // A cache key of its own (--target app): this export writes a new cache manifest whatever ran before.
    const r = await depot(['build', '--target', 'app', app], { DEPOT_TOKEN: token, DOCKER_CONFIG: home });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/ERROR: .*failed to authorize/);
    expect(writesTo(cache.log().slice(before), 'cache/api').some((l) => l.includes('/manifests/app '))).toBe(
      true,
    );
  });

  it('exits 69 when the cache registry is down, before any build', async () => {
    const token = await cache.token();
    const host = `localhost:${await freePort()}`;
    const downToken = await projectToken({ project: 'web', cache: `${host}/cache/web` });
    const r = await depot(['build', ...RUN, app], { DEPOT_TOKEN: downToken });
    expect(r.code).toBe(69);
    expect(r.stderr).toContain(`The cache registry ${host} cannot be reached`);
    expect(r.stderr).not.toContain('#1 ');
    expect(all(r)).not.toContain(token);
  });
});
