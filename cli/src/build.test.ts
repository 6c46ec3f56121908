import { describe, expect, it } from 'vitest';
import { projectToken } from '../test/tokens';
import { BUILD_HELP, planBuild } from './build';
import { parseArgs } from './flags';
import { readProjectToken } from './token';
import type { ProjectToken } from './token';

function session(token: ProjectToken | undefined) {
  return { token, buildID: 'b123', savedRepository: () => 'localhost:5001/builds/web' };
}

async function plan(argv: string[], scope = 'build cache:read cache:write') {
  const { depot, buildx, positional } = parseArgs('build', argv);
  const token = readProjectToken(await projectToken({ scope }));
  return planBuild({
    flags: buildx,
    depot,
    context: positional[0] ?? '.',
    session: session(token),
    metadataFile: '/tmp/m.json',
  });
}

describe('planBuild', () => {
  it("passes the user's flags unchanged and adds the project cache keyed by target", async () => {
    const p = await plan(['--target', 'prod', '--cache-from', 'type=gha', '-t', 'x', '.']);
    expect(p.args).toEqual([
      'buildx',
      'build',
      '--target',
      'prod',
      '--cache-from',
      'type=gha',
      '-t',
      'x',
      '--cache-from',
      'type=registry,ref=localhost:5001/cache/web:prod',
      '--cache-to',
      'type=registry,ref=localhost:5001/cache/web:prod,mode=max,ignore-error=true',
      '--metadata-file',
      '/tmp/m.json',
      '.',
    ]);
  });

  it.each<[string, string[], string]>([
    ['a plain build', ['.'], 'default'],
    ['--target', ['--target', 'prod', '.'], 'prod'],
    ['--cache-key', ['--cache-key', 'web', '.'], 'web'],
    ['--cache-key over --target', ['--target', 'prod', '--cache-key', 'web', '.'], 'web'],
    ['--cache-key made tag-safe', ['--cache-key=images/api v2', '.'], 'images-api-v2'],
  ])('%s: reads and writes the project cache under that key', async (_name, argv, key) => {
    const { args } = await plan(argv);
    const ref = `localhost:5001/cache/web:${key}`;
    expect(args.slice(args.indexOf('--metadata-file') - 4, args.indexOf('--metadata-file'))).toEqual([
      '--cache-from',
      `type=registry,ref=${ref}`,
      '--cache-to',
      `type=registry,ref=${ref},mode=max,ignore-error=true`,
    ]);
    expect(args).not.toContain('--cache-key');
  });

  it('documents --cache-key in --help', () => {
    expect(BUILD_HELP).toMatch(
      /^ {6}--cache-key KEY {7}the project cache to read and write \(default: the --target/m,
    );
  });

  it('keeps --cache-from and leaves out --cache-to when the builder cannot export cache', async () => {
    const { depot, buildx, positional } = parseArgs('build', ['--target', 'prod', '.']);
    const token = readProjectToken(await projectToken());
    const p = planBuild({
      flags: buildx,
      depot,
      context: positional[0] ?? '.',
      session: session(token),
      metadataFile: '/tmp/m.json',
      cacheExport: false,
    });
    expect(p.args).toEqual([
      'buildx',
      'build',
      '--target',
      'prod',
      '--cache-from',
      'type=registry,ref=localhost:5001/cache/web:prod',
      '--metadata-file',
      '/tmp/m.json',
      '.',
    ]);
  });

  it('imports the --cache-key cache in the save-only second pass too', async () => {
    const p = await plan(['--save', '--cache-key', 'web', '-t', 'x', '--push', '.']);
    expect(p.savePass).toContain('type=registry,ref=localhost:5001/cache/web:web');
  });

  it("uses the user's metadata file instead of a temporary one", async () => {
    const p = await plan(['--metadata-file', 'out.json', '.'], 'build');
    expect(p.args).toEqual(['buildx', 'build', '--metadata-file', 'out.json', '.']);
  });

  it('saves through the image exporter when the build has no other destination', async () => {
    const p = await plan(['--save', '--save-tag', 'v1', '.']);
    expect(p.args.slice(-3)).toEqual([
      '--output',
      'type=image,"name=localhost:5001/builds/web:b123,localhost:5001/builds/web:v1",push=true',
      '.',
    ]);
    expect(p.savePass).toBeUndefined();
  });

  it("saves in a second, cached pass when the user's own tags or outputs are set", async () => {
    const p = await plan([
      '--save',
      '-t',
      '127.0.0.1:5000/app:1',
      '--push',
      '--platform',
      'linux/amd64',
      '.',
    ]);
    expect(p.args).not.toContain('type=image,"name=localhost:5001/builds/web:b123",push=true');
    expect(p.savePass).toEqual([
      'buildx',
      'build',
      '--platform',
      'linux/amd64',
      '--cache-from',
      'type=registry,ref=localhost:5001/cache/web:default',
      '--output',
      'type=image,"name=localhost:5001/builds/web:b123",push=true',
      '.',
    ]);
  });

  it('turns on SBOM generation for --sbom-dir unless the user chose sbom attestations', async () => {
    expect((await plan(['--sbom-dir', 'sboms', '.'], 'build')).args).toContain('--sbom=true');
    expect((await plan(['--sbom-dir', 'sboms', '--sbom=false', '.'], 'build')).args).not.toContain(
      '--sbom=true',
    );
    expect(
      (await plan(['--sbom-dir', 's', '--attest', 'type=sbom,generator=x', '.'], 'build')).args,
    ).not.toContain('--sbom=true');
  });

  it('adds no cache flags for an isolated token', async () => {
    const { depot, buildx } = parseArgs('build', ['.']);
    const token = readProjectToken(await projectToken({ isolated: true, scope: 'build' }));
    const p = planBuild({ flags: buildx, depot, context: '.', session: session(token), metadataFile: '/m' });
    expect(p.args.join(' ')).not.toContain('cache');
  });
});
