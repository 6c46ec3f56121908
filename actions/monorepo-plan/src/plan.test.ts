// The planner on real git repositories made from examples/monorepo: a bare `origin` and a working clone, commits
// made with real git, events as GitHub writes their payloads; shallow checkouts are `git clone --depth 1`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getGithubContext } from '../../../shared/github';
import { commit, git, GIT_ENV, IMAGES, RepoFactory } from './fixture-repo';
import { plan } from './plan';
import type { PlanInputs } from './plan';

const ZERO = '0'.repeat(40);
const repos = new RepoFactory();
const repo = () => repos.repo();

interface Run {
  event: string;
  payload: Record<string, unknown>;
  sha?: string;
  ref?: string;
  inputs?: Partial<PlanInputs>;
  env?: Record<string, string>;
}

const REPOSITORY = { full_name: 'acme/mono', default_branch: 'main' };

async function planIn(checkout: string, run: Run) {
  const eventPath = repos.file('event.json');
  writeFileSync(eventPath, JSON.stringify({ repository: REPOSITORY, ...run.payload }));
  const env: NodeJS.ProcessEnv = {
    ...GIT_ENV,
    GITHUB_EVENT_NAME: run.event,
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_SHA: run.sha ?? (await git(checkout, 'rev-parse', 'HEAD')),
    GITHUB_REF: run.ref ?? 'refs/heads/main',
    GITHUB_REPOSITORY: 'acme/mono',
    GITHUB_WORKFLOW_REF: 'acme/mono/.github/workflows/ci.yml@refs/heads/main',
    ...run.env,
  };
  const inputs: PlanInputs = {
    images: IMAGES,
    'bake-file': [],
    platforms: ['linux/amd64'],
    registry: '',
    'tag-prefix': '',
    all: false,
    ...run.inputs,
  };
  return plan(inputs, { root: checkout, github: getGithubContext(env), env });
}

/** A push of `after` (the work clone's HEAD) onto `before`. */
async function push(checkout: string, before: string, extra: Partial<Run> = {}) {
  const after = await git(checkout, 'rev-parse', 'HEAD');
  return planIn(checkout, { event: 'push', payload: { before, after, created: false }, ...extra });
}

const built = (p: Awaited<ReturnType<typeof plan>>) =>
  Object.fromEntries(p.include.map((e) => [e.name, e.reason]));

afterAll(() => repos.cleanup());

describe('plan: which images a push builds', () => {
  it('a change in one image directory builds that image only', async () => {
    const r = await repo();
    await commit(r.work, { 'services/api/serve.sh': '#!/bin/sh\necho api v2\n' });
    const p = await push(r.work, r.first);
    expect(built(p)).toEqual({ api: 'services/api/serve.sh changed' });
    expect(p.mode).toBe('images');
    expect(p.range).toMatch(/^[0-9a-f]{7}\.\.[0-9a-f]{7}$/);
    expect(p.include[0]).toEqual({
      name: 'api',
      context: '.',
      file: 'services/api/Dockerfile',
      platforms: 'linux/amd64',
      tags: '',
      'build-contexts': '',
      target: '',
      set: '',
      reason: 'services/api/serve.sh changed',
    });
  });

  it('a change in the shared directory builds the images that COPY it (web, worker), not api', async () => {
    const r = await repo();
    await commit(r.work, { 'shared/lib.sh': '#!/bin/sh\nlog() { echo "$*"; }\n' });
    const p = await push(r.work, r.first);
    expect(built(p)).toEqual({
      web: 'shared/lib.sh changed (COPY shared/ in services/web/Dockerfile)',
      worker: 'shared/lib.sh changed (COPY shared/ in services/worker/Dockerfile)',
    });
    // web's image.json gives its platforms.
    expect(p.include.find((e) => e.name === 'web')?.platforms).toBe('linux/amd64,linux/arm64');
  });

  it("a change in the context's .dockerignore builds every image built from that context", async () => {
    const r = await repo();
    await commit(r.work, { '.dockerignore': '.git\n**/*.md\n*.log\n' });
    const p = await push(r.work, r.first);
    expect(built(p)).toEqual({
      api: '.dockerignore changed (its .dockerignore)',
      web: '.dockerignore changed (its .dockerignore)',
      worker: '.dockerignore changed (its .dockerignore)',
    });
  });

  it("a change only to files the context's .dockerignore leaves out builds nothing, even in an image's directory", async () => {
    const r = await repo();
    // examples/monorepo/.dockerignore has **/*.md: the builder never sees these files.
    await commit(r.work, { 'services/api/README.md': '# api\n', 'services/web/docs/usage.md': 'how\n' });
    const p = await push(r.work, r.first);
    expect(p.include).toEqual([]);
  });

  it("the .dockerignore rules are docker's: an ! exception counts, and so do a Dockerfile and image.json it lists", async () => {
    const r = await repo();
    const base = await commit(r.work, {
      '.dockerignore': '.git\n**/*.md\n!services/web/KEEP.md\nservices/*/Dockerfile\nservices/*/image.json\n',
    });
    await commit(r.work, {
      'services/api/Dockerfile':
        'FROM 127.0.0.1:5000/busybox:latest\nCOPY services/api/ /app/\nCMD ["/bin/sh", "/app/serve.sh", "v2"]\n',
      'services/web/KEEP.md': 'kept in the context\n',
      'services/worker/image.json': '{ "platforms": ["linux/arm64"] }\n',
      'services/worker/NOTES.md': 'left out\n',
    });
    const p = await push(r.work, base);
    expect(built(p)).toEqual({
      api: 'services/api/Dockerfile changed (its Dockerfile)',
      web: 'services/web/KEEP.md added',
      worker: 'services/worker/image.json added',
    });
    expect(p.include.find((e) => e.name === 'worker')?.platforms).toBe('linux/arm64');
  });

  it("a Dockerfile's own .dockerignore (Dockerfile.dockerignore) is used instead of the context's", async () => {
    const r = await repo();
    const base = await commit(r.work, { 'services/api/Dockerfile.dockerignore': '.git\n' });
    await commit(r.work, { 'services/api/README.md': '# api\n', 'services/web/README.md': '# web\n' });
    const p = await push(r.work, base);
    expect(built(p)).toEqual({ api: 'services/api/README.md added' });
  });

  it('a change no image builds from builds nothing', async () => {
    const r = await repo();
    await commit(r.work, { 'README.md': '# the monorepo, reworded\n', 'docs/x.txt': 'x\n' });
    const p = await push(r.work, r.first);
    expect(p.include).toEqual([]);
    expect(p.everything).toBeUndefined();
  });

  it('a renamed image directory builds under its new name', async () => {
    const r = await repo();
    await git(r.work, 'mv', 'services/api', 'services/gateway');
    await commit(r.work, {}, 'rename api to gateway');
    const p = await push(r.work, r.first, {
      inputs: { images: ['services/gateway', 'services/web', 'services/worker'] },
    });
    expect(built(p)).toEqual({ gateway: 'services/api/Dockerfile renamed to services/gateway/Dockerfile' });
  });

  it('a deleted image directory is dropped with a notice; one that never existed is an error naming it', async () => {
    const r = await repo();
    await commit(r.work, { 'services/worker': null }, 'remove the worker');
    const p = await push(r.work, r.first);
    expect(p.include).toEqual([]);
    expect(p.deleted).toEqual(['services/worker']);
    await expect(
      push(r.work, r.first, { inputs: { images: ['services/api', 'services/nope'] } }),
    ).rejects.toThrow(
      'Input `images`: services/nope has no Dockerfile (services/nope/Dockerfile): list directories that hold one, one per line.',
    );
  });

  it('a first push builds every image', async () => {
    const r = await repo();
    const p = await push(r.work, ZERO);
    expect(Object.values(built(p))).toEqual(Array(3).fill('first push: every image'));
    const created = await planIn(r.work, {
      event: 'push',
      payload: { before: r.first, after: r.first, created: true },
    });
    expect(created.everything).toBe('first push: every image');
  });

  it('a force push (the base is not an ancestor) builds every image, from a fresh clone that lacks the base', async () => {
    const r = await repo();
    const old = await commit(r.work, { 'services/api/serve.sh': 'v1\n' });
    await git(r.work, 'push', '-q', 'origin', 'main');
    await git(r.work, 'reset', '-q', '--hard', r.first);
    await commit(r.work, { 'services/web/serve.sh': 'rewritten\n' });
    await git(r.work, 'push', '-q', '--force', 'origin', 'main');
    const clone = join(r.dir, 'clone');
    await git(r.dir, 'clone', '-q', `file://${r.origin}`, clone);
    await expect(git(clone, 'cat-file', '-e', `${old}^{commit}`)).rejects.toThrow();
    const head = await git(clone, 'rev-parse', 'HEAD');
    const p = await push(clone, old);
    expect(p.everything).toBe(
      `force push: base ${old.slice(0, 7)} is not an ancestor of ${head.slice(0, 7)}: every image`,
    );
    expect(p.include).toHaveLength(3);
  });

  it('a shallow clone is deepened until it reaches the base, then only the changed image builds', async () => {
    const r = await repo();
    await commit(r.work, { 'services/worker/work.sh': 'v2\n' }, 'worker v2');
    for (let i = 0; i < 14; i++) await commit(r.work, { [`docs/note-${i}.txt`]: `${i}\n` }, `doc ${i}`);
    const before = await git(r.work, 'rev-parse', 'HEAD~15');
    expect(before).toBe(r.first);
    await git(r.work, 'push', '-q', 'origin', 'main');
    const clone = join(r.dir, 'shallow');
    await git(r.dir, 'clone', '-q', '--depth', '1', `file://${r.origin}`, clone);
    expect(await git(clone, 'rev-parse', '--is-shallow-repository')).toBe('true');
    const p = await push(clone, before);
    expect(built(p)).toEqual({ worker: 'services/worker/work.sh changed' });
    expect(await git(clone, 'merge-base', '--is-ancestor', before, 'HEAD')).toBe('');
  });

  it('a base no fetch can reach builds every image and says why', async () => {
    const r = await repo();
    await commit(r.work, { 'services/api/serve.sh': 'v2\n' });
    await git(r.work, 'push', '-q', 'origin', 'main');
    const clone = join(r.dir, 'shallow');
    await git(r.dir, 'clone', '-q', '--depth', '1', `file://${r.origin}`, clone);
    const missing = 'deadbeef'.repeat(5);
    const p = await push(clone, missing);
    expect(p.everything).toMatch(/^cannot reach base deadbee \(git fetch failed: .+\): every image$/);
    expect(p.include).toHaveLength(3);
  });

  it('a change to the calling workflow builds every image', async () => {
    const r = await repo();
    await commit(r.work, { '.github/workflows/ci.yml': 'on: push\n' });
    const p = await push(r.work, r.first);
    expect(p.everything).toBe('.github/workflows/ci.yml changed (the workflow): every image');
    expect(Object.values(built(p))).toEqual(Array(3).fill(p.everything));
  });

  it('a COPY source with a variable cannot be resolved: any change in the context builds the image', async () => {
    const r = await repo();
    const dockerfile = [
      'FROM 127.0.0.1:5000/busybox:latest',
      'ARG CONF=prod',
      'COPY config/$CONF.txt /etc/app.conf',
      'COPY services/api/ /app/',
      '',
    ].join('\n');
    const base = await commit(r.work, { 'services/api/Dockerfile': dockerfile, 'config/prod.txt': 'a\n' });
    await commit(r.work, { 'config/prod.txt': 'b\n' });
    const p = await push(r.work, base);
    expect(built(p)).toEqual({
      api: 'config/prod.txt changed, and COPY config/$CONF.txt in services/api/Dockerfile cannot be resolved',
    });
  });
});

describe('plan: events', () => {
  it('workflow_dispatch, schedule and all: true build every image', async () => {
    const r = await repo();
    const dispatch = await planIn(r.work, { event: 'workflow_dispatch', payload: { inputs: {} } });
    expect(Object.values(built(dispatch))).toEqual(Array(3).fill('workflow_dispatch: every image'));
    const schedule = await planIn(r.work, { event: 'schedule', payload: { schedule: '0 0 * * *' } });
    expect(schedule.everything).toBe('schedule: every image');
    const all = await push(r.work, r.first, { inputs: { all: true } });
    expect(all.everything).toBe('all: true: every image');
  });

  it('a pull request against a base that moved on counts only the pull request’s changes (shallow checkout)', async () => {
    const r = await repo();
    // The pull request branches off the first commit and changes api...
    await git(r.work, 'checkout', '-q', '-b', 'feature');
    await commit(r.work, { 'services/api/serve.sh': 'feature\n' }, 'feature 1');
    await commit(r.work, { 'services/api/more.sh': 'more\n' }, 'feature 2');
    const head = await git(r.work, 'rev-parse', 'HEAD');
    // ...while main moves on in the shared directory, several commits.
    await git(r.work, 'checkout', '-q', 'main');
    for (let i = 0; i < 4; i++) await commit(r.work, { 'shared/lib.sh': `# ${i}\n` }, `main ${i}`);
    const base = await git(r.work, 'rev-parse', 'HEAD');
    await git(r.work, 'push', '-q', 'origin', 'main', 'feature');
    const clone = join(r.dir, 'pr');
    await git(r.dir, 'clone', '-q', '--depth', '1', '--branch', 'feature', `file://${r.origin}`, clone);
    const p = await planIn(clone, {
      event: 'pull_request',
      ref: 'refs/pull/7/merge',
      payload: {
        number: 7,
        pull_request: { number: 7, base: { sha: base, ref: 'main' }, head: { sha: head, ref: 'feature' } },
      },
    });
    expect(p.range).toBe(`${base.slice(0, 7)}...${head.slice(0, 7)}`);
    expect(built(p)).toEqual({ api: 'services/api/more.sh added' });
  });
});

describe('plan: a pull request checked out as GitHub does it', () => {
  it('the merge commit (refs/pull/N/merge), fetched at depth 1 by sha: only the pull request’s changes', async () => {
    const r = await repo();
    await git(r.work, 'checkout', '-q', '-b', 'feature');
    await commit(r.work, { 'services/worker/work.sh': 'feature\n' }, 'feature');
    const head = await git(r.work, 'rev-parse', 'HEAD');
    await git(r.work, 'checkout', '-q', 'main');
    for (let i = 0; i < 3; i++) await commit(r.work, { 'services/api/serve.sh': `# ${i}\n` }, `main ${i}`);
    const base = await git(r.work, 'rev-parse', 'HEAD');
    await git(r.work, 'checkout', '-q', '--detach', 'main');
    await git(r.work, 'merge', '-q', '--no-ff', '-m', 'Merge feature into main', 'feature');
    const merge = await git(r.work, 'rev-parse', 'HEAD');
    await git(r.work, 'push', '-q', 'origin', 'main', 'feature', `${merge}:refs/pull/9/merge`);
    // As actions/checkout does: init, fetch the merge commit alone at depth 1, check it out detached.
    const checkout = join(r.dir, 'checkout');
    await git(r.dir, 'init', '-q', checkout);
    await git(checkout, 'remote', 'add', 'origin', `file://${r.origin}`);
    await git(
      checkout,
      'fetch',
      '-q',
      '--no-tags',
      '--depth=1',
      'origin',
      `+${merge}:refs/remotes/pull/9/merge`,
    );
    await git(checkout, 'checkout', '-q', '--detach', merge);
    const p = await planIn(checkout, {
      event: 'pull_request',
      sha: merge,
      ref: 'refs/pull/9/merge',
      payload: {
        number: 9,
        pull_request: { number: 9, base: { sha: base, ref: 'main' }, head: { sha: head, ref: 'feature' } },
      },
    });
    expect(built(p)).toEqual({ worker: 'services/worker/work.sh changed' });
  });
});

describe('plan: matrix', () => {
  it('tags each image with the short sha, and latest on the default branch', async () => {
    const r = await repo();
    await commit(r.work, { 'shared/lib.sh': 'x\n' });
    const sha = await git(r.work, 'rev-parse', 'HEAD');
    const p = await push(r.work, r.first, {
      inputs: { registry: 'ghcr.io/acme', 'tag-prefix': 'mono-' },
    });
    expect(p.registryHost).toBe('ghcr.io');
    expect(p.include.find((e) => e.name === 'web')?.tags).toBe(
      `ghcr.io/acme/mono-web:${sha.slice(0, 7)}\nghcr.io/acme/mono-web:latest`,
    );
    const branch = await push(r.work, r.first, {
      ref: 'refs/heads/topic',
      inputs: { registry: 'ghcr.io/acme' },
    });
    expect(branch.include.find((e) => e.name === 'web')?.tags).toBe(`ghcr.io/acme/web:${sha.slice(0, 7)}`);
  });

  it('image.json gives the context, named contexts and Dockerfile; a change under a named context builds', async () => {
    const r = await repo();
    const base = await commit(r.work, {
      'services/api/image.json': JSON.stringify({
        name: 'api-server',
        context: 'services/api',
        contexts: { proto: 'proto', base: 'docker-image://127.0.0.1:5000/busybox:latest' },
        dockerfile: 'Dockerfile',
      }),
      'proto/api.proto': 'syntax = "proto3";\n',
    });
    await commit(r.work, { 'proto/api.proto': 'syntax = "proto3";\n// v2\n' });
    const p = await push(r.work, base);
    expect(p.include).toEqual([
      {
        name: 'api-server',
        context: 'services/api',
        file: 'services/api/Dockerfile',
        platforms: 'linux/amd64',
        tags: '',
        'build-contexts': 'proto=proto\nbase=docker-image://127.0.0.1:5000/busybox:latest',
        target: '',
        set: '',
        reason: 'proto/api.proto changed (build context proto=proto)',
      },
    ]);
  });

  it("a named context's own .dockerignore: what it leaves out builds nothing; a change to it builds", async () => {
    const r = await repo();
    const base = await commit(r.work, {
      'services/api/image.json': JSON.stringify({ name: 'api', contexts: { proto: 'proto' } }),
      'proto/api.proto': 'syntax = "proto3";\n',
      'proto/.dockerignore': '*.md\n',
    });
    const built = async (from: string) =>
      (await push(r.work, from)).include.filter((e) => e.name === 'api').map((e) => e.reason);
    // BuildKit never sends proto/NOTES.md to the build (checked with buildx: the named context's .dockerignore holds).
    const notes = await commit(r.work, { 'proto/NOTES.md': 'not sent\n' });
    expect(await built(base)).toEqual([]);
    await commit(r.work, { 'proto/.dockerignore': '*.md\n*.txt\n' });
    expect(await built(notes)).toEqual(['proto/.dockerignore changed (build context proto=proto)']);
  });

  it('duplicate or tag-unsafe names and a bad image.json are errors naming the directories', async () => {
    const r = await repo();
    await commit(r.work, { 'services/worker/image.json': '{"name": "web"}' });
    await expect(push(r.work, r.first)).rejects.toThrow(
      'Two images are named web: services/web and services/worker; give one another "name" in its image.json.',
    );
    await commit(r.work, { 'services/worker/image.json': '{"name": "Worker"}' });
    await expect(push(r.work, r.first)).rejects.toThrow(
      /Image name "Worker" \(services\/worker\) is not tag-safe/,
    );
    await commit(r.work, { 'services/worker/image.json': '{"platfroms": "linux/amd64"}' });
    await expect(push(r.work, r.first)).rejects.toThrow(/^services\/worker\/image.json: /);
  });
});
