import { describe, expect, it } from 'vitest';
import { checkFlagVersions, parseBuildxVersion } from './buildx';
import { parseArgs } from './flags';

describe('buildx version gates', () => {
  it("reads Debian's and upstream's version lines", () => {
    expect(parseBuildxVersion('github.com/docker/buildx 0.29.1+ds1 0.29.1+ds1-4')).toBe('0.29.1');
    expect(parseBuildxVersion('github.com/docker/buildx v0.13.1 abcdef')).toBe('0.13.1');
    expect(parseBuildxVersion('garbage')).toBeUndefined();
  });

  it('names the flag and the version it needs', () => {
    const { buildx } = parseArgs('build', ['--call', 'check', '.']);
    expect(() => checkFlagVersions('build', '0.13.1', buildx)).toThrow(
      '--call needs docker buildx 0.15.0 or newer, but buildx 0.13.1 is installed',
    );
    expect(() => checkFlagVersions('build', '0.29.1', buildx)).not.toThrow();
    expect(() => checkFlagVersions('build', undefined, buildx)).not.toThrow();
    const bake = parseArgs('bake', ['--allow', 'fs.read=..']).buildx;
    expect(() => checkFlagVersions('bake', '0.13.1', bake)).toThrow('--allow needs docker buildx 0.19.0');
  });

  it('refuses --var below buildx 0.31, where bake does not know it (0.29 says "unknown flag: --var")', () => {
    const bake = parseArgs('bake', ['--var', 'TAG=1']).buildx;
    expect(() => checkFlagVersions('bake', '0.29.1', bake)).toThrow(
      '--var needs docker buildx 0.31.0 or newer, but buildx 0.29.1 is installed',
    );
    expect(() => checkFlagVersions('bake', '0.31.0', bake)).not.toThrow();
  });
});
