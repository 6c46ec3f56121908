import { describe, expect, it } from 'vitest';
import { parseArgs, toWords } from './flags';

describe('parseArgs', () => {
  it('keeps every buildx flag as written and takes depot flags out', () => {
    const argv = [
      '-t',
      'a:1',
      '--platform=linux/amd64,linux/arm64',
      '--save',
      '--project',
      'web',
      '--push',
      '-f',
      'x/Dockerfile',
      '.',
    ];
    const p = parseArgs('build', argv);
    expect(toWords(p.buildx)).toEqual([
      '-t',
      'a:1',
      '--platform=linux/amd64,linux/arm64',
      '--push',
      '-f',
      'x/Dockerfile',
    ]);
    expect(p.depot.save).toBe(true);
    expect(p.depot.project).toBe('web');
    expect(p.positional).toEqual(['.']);
  });

  it('does not take a flag value for the context', () => {
    expect(parseArgs('build', ['--build-arg', 'A=1', '--target', 'prod', 'ctx']).positional).toEqual(['ctx']);
  });

  it('accepts depot spellings of --lint-fail-on, warning included', () => {
    expect(parseArgs('build', ['--lint', '--lint-fail-on', 'warning', '.']).depot.lintFailOn).toBe('warn');
    expect(parseArgs('build', ['.']).depot.lintFailOn).toBe('error');
  });

  it.each([
    [['--bogus', '.'], 'Unknown flag --bogus for depot build'],
    [['--lint-fail-on', 'loud', '.'], '--lint-fail-on must be one of error, warn, info, none (got "loud")'],
    [['--build-platform', 'riscv', '.'], '--build-platform must be one of dynamic, linux/amd64, linux/arm64'],
    [['-t'], 'Flag -t needs a value'],
    [['--push=maybe', '.'], 'Flag --push takes no value'],
    [
      ['--cache-key', '/-.', '.'],
      '--cache-key "/-." has no letter, digit or "_" to make a cache tag from: give a name such as the image\'s, e.g. `--cache-key web`.',
    ],
    [['--cache-key=', '.'], '--cache-key "" has no letter, digit or "_" to make a cache tag from'],
    [['--cache-key'], 'Flag --cache-key needs a value'],
  ])('refuses %j with one line', (argv, message) => {
    expect(() => parseArgs('build', argv)).toThrow(message);
  });

  it("takes depot's --build-platform values, and bare architectures", () => {
    expect(parseArgs('build', ['--build-platform', 'linux/arm64', '.']).depot.buildPlatform).toBe(
      'linux/arm64',
    );
    expect(parseArgs('build', ['--build-platform=amd64', '.']).depot.buildPlatform).toBe('linux/amd64');
  });

  it('takes --cache-key as given, for build and bake, and leaves it out of the buildx flags', () => {
    const p = parseArgs('build', ['--cache-key', 'images/web', '--target', 'prod', '.']);
    expect(p.depot.cacheKey).toBe('images/web');
    expect(toWords(p.buildx)).toEqual(['--target', 'prod']);
    expect(parseArgs('bake', ['--cache-key=web', 'app']).depot.cacheKey).toBe('web');
    expect(parseArgs('build', ['.']).depot.cacheKey).toBeUndefined();
  });

  it('knows bake flags apart from build flags', () => {
    const p = parseArgs('bake', ['--set', 'a.tags=x', '--allow', 'fs.read=..', 'a', 'b']);
    expect(p.positional).toEqual(['a', 'b']);
    expect(() => parseArgs('bake', ['--build-arg', 'A=1'])).toThrow(
      'Unknown flag --build-arg for depot bake',
    );
  });
});
