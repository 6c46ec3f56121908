import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bakeImages, isLocalContext, readImageDir, repoPath } from './images';
import { EXAMPLE } from './fixture-repo';

// `docker buildx bake --print` of examples/monorepo/docker-bake.hcl, as buildx 0.29.1 printed it.
const PRINTED = {
  group: { default: { targets: ['api', 'web', 'worker'] } },
  target: {
    api: { context: '.', dockerfile: 'services/api/Dockerfile' },
    web: { context: '.', dockerfile: 'services/web/Dockerfile', platforms: ['linux/amd64', 'linux/arm64'] },
    worker: { context: '.', dockerfile: 'services/worker/Dockerfile' },
  },
};

const tmp = mkdtempSync(join(tmpdir(), 'monorepo-images-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('image directories', () => {
  it('read the example: name from image.json or the directory, platforms, the root as context', () => {
    expect(readImageDir(EXAMPLE, 'services/web/')).toEqual({
      name: 'web',
      dir: 'services/web',
      context: '.',
      dockerfile: 'services/web/Dockerfile',
      platforms: ['linux/amd64', 'linux/arm64'],
      contexts: {},
      target: '',
      origin: 'services/web',
    });
    expect(readImageDir(EXAMPLE, './services/api')).toMatchObject({ name: 'api', platforms: [] });
    expect(readImageDir(EXAMPLE, 'shared')).toBeUndefined();
  });

  it('image.json platforms as a comma-separated string, a Dockerfile of another name', () => {
    mkdirSync(join(tmp, 'svc'), { recursive: true });
    writeFileSync(join(tmp, 'svc', 'app.Dockerfile'), 'FROM x\n');
    writeFileSync(
      join(tmp, 'svc', 'image.json'),
      JSON.stringify({ platforms: 'linux/amd64, linux/arm64', dockerfile: 'app.Dockerfile' }),
    );
    expect(readImageDir(tmp, 'svc')).toMatchObject({
      name: 'svc',
      dockerfile: 'svc/app.Dockerfile',
      platforms: ['linux/amd64', 'linux/arm64'],
    });
  });

  it.each([
    ['{"name": 3}', 'svc2/image.json: field "name": '],
    [
      '{"context": "../outside"}',
      'svc2/image.json "context" must be a path inside the repository, got "../outside".',
    ],
    ['not json', 'svc2/image.json is not JSON'],
    ['{"dockerfile": "Nope"}', 'svc2/image.json names svc2/Nope as its Dockerfile, and there is none.'],
  ])('refuse a bad image.json %s', (json, message) => {
    mkdirSync(join(tmp, 'svc2'), { recursive: true });
    writeFileSync(join(tmp, 'svc2', 'Dockerfile'), 'FROM x\n');
    writeFileSync(join(tmp, 'svc2', 'image.json'), json);
    expect(() => readImageDir(tmp, 'svc2')).toThrow(message);
  });

  it('paths are normalized and kept inside the repository', () => {
    expect(repoPath('./a/b/', 'x')).toBe('a/b');
    expect(repoPath('.', 'x')).toBe('.');
    expect(() => repoPath('/etc', 'Input `images`: /etc')).toThrow(
      'Input `images`: /etc must be a path inside the repository, got "/etc".',
    );
    expect(isLocalContext('libs/proto')).toBe(true);
    expect(isLocalContext('docker-image://alpine')).toBe(false);
    expect(isLocalContext('target:base')).toBe(false);
    expect(isLocalContext('https://github.com/a/b.git')).toBe(false);
  });
});

describe('bake targets', () => {
  it('are the default group’s, each with its Dockerfile’s directory, context and platforms', () => {
    expect(bakeImages(PRINTED, 'docker-bake.hcl')).toEqual([
      {
        name: 'api',
        dir: 'services/api',
        context: '.',
        dockerfile: 'services/api/Dockerfile',
        platforms: [],
        contexts: {},
        target: 'api',
        origin: 'target api in docker-bake.hcl',
      },
      expect.objectContaining({ name: 'web', platforms: ['linux/amd64', 'linux/arm64'] }),
      expect.objectContaining({ name: 'worker', dir: 'services/worker' }),
    ]);
  });

  it('without a default group are every target; a context directory holds the default Dockerfile', () => {
    const images = bakeImages(
      {
        target: {
          one: { context: 'apps/one', contexts: { lib: 'libs/lib', base: 'docker-image://alpine' } },
          two: { context: 'cwd://apps/two', dockerfile: 'build/Dockerfile' },
          inline: { context: '.', 'dockerfile-inline': 'FROM x\n' },
        },
      },
      'bake.hcl',
    );
    expect(images.map((i) => [i.name, i.dir, i.context, i.dockerfile, i.contexts])).toEqual([
      [
        'one',
        'apps/one',
        'apps/one',
        'apps/one/Dockerfile',
        { lib: 'libs/lib', base: 'docker-image://alpine' },
      ],
      ['two', 'apps/two/build', 'apps/two', 'apps/two/build/Dockerfile', {}],
      ['inline', '.', '.', '', {}],
    ]);
  });
});
