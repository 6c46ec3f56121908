import { describe, expect, it } from 'vitest';
import { projectToken } from '../test/tokens';
import { BAKE_HELP, bakeSets, isRemoteSource, parsePrint } from './bake';
import { parseArgs } from './flags';
import { readProjectToken } from './token';

const PRINT = JSON.stringify({
  group: { default: { targets: ['app', 'worker'] } },
  target: { app: { context: '.', tags: ['127.0.0.1:5000/app'] }, worker: { context: 'w' } },
});

describe('bake', () => {
  it('reads targets from --print', () => {
    expect(parsePrint(PRINT).map((t) => [t.name, t.tags])).toEqual([
      ['app', ['127.0.0.1:5000/app']],
      ['worker', []],
    ]);
  });

  it('appends the project cache to each target, keyed by its name', async () => {
    const token = readProjectToken(await projectToken({ scope: 'build cache:read' }));
    const sets = bakeSets({
      targets: parsePrint(PRINT),
      session: { token, buildID: 'b1', savedRepository: () => 'r' },
      depot: parseArgs('bake', []).depot,
      append: true,
    });
    expect(sets.cache).toEqual([
      '--set',
      'app.cache-from+=type=registry,ref=localhost:5001/cache/web:app',
      '--set',
      'worker.cache-from+=type=registry,ref=localhost:5001/cache/web:worker',
    ]);
    expect(sets.save).toEqual([]);
  });

  it.each<[string, string[], string[], string[]]>([
    ['no --cache-key: each target its name', [], ['app', 'worker'], ['app', 'worker']],
    ['--cache-key, one target: the key', ['--cache-key', 'web'], ['worker'], ['web']],
    [
      '--cache-key, several targets: <key>-<target>',
      ['--cache-key', 'web'],
      ['app', 'worker'],
      ['web-app', 'web-worker'],
    ],
    ['--cache-key made tag-safe', ['--cache-key=images/web'], ['app'], ['images-web']],
  ])('%s', async (_name, argv, names, keys) => {
    const token = readProjectToken(await projectToken({ scope: 'build cache:read cache:write' }));
    const sets = bakeSets({
      targets: parsePrint(PRINT).filter((t) => names.includes(t.name)),
      session: { token, buildID: 'b1', savedRepository: () => 'r' },
      depot: parseArgs('bake', argv).depot,
      append: true,
    });
    const ref = (key: string) => `type=registry,ref=localhost:5001/cache/web:${key}`;
    expect(sets.cache).toEqual(
      names.flatMap((name, i) => [
        '--set',
        `${name}.cache-from+=${ref(keys[i] as string)}`,
        '--set',
        `${name}.cache-to+=${ref(keys[i] as string)},mode=max,ignore-error=true`,
      ]),
    );
    expect(sets.cacheFrom).toEqual(
      names.flatMap((name, i) => ['--set', `${name}.cache-from+=${ref(keys[i] as string)}`]),
    );
  });

  it("keeps each target's cache-from and adds no cache-to when the builder cannot export cache", async () => {
    const token = readProjectToken(await projectToken({ scope: 'build cache:read cache:write' }));
    const sets = bakeSets({
      targets: parsePrint(PRINT),
      session: { token, buildID: 'b1', savedRepository: () => 'r' },
      depot: parseArgs('bake', []).depot,
      append: true,
      cacheExport: false,
    });
    expect(sets.cache).toEqual([
      '--set',
      'app.cache-from+=type=registry,ref=localhost:5001/cache/web:app',
      '--set',
      'worker.cache-from+=type=registry,ref=localhost:5001/cache/web:worker',
    ]);
  });

  it('documents --cache-key in --help, and what it means for several targets', () => {
    expect(BAKE_HELP).toMatch(/^ {6}--cache-key KEY {7}the project cache to read and write/m);
    expect(BAKE_HELP).toContain("each target's is <KEY>-<target>");
  });

  it('saves targets inline when nothing else is exported, else in a second pass without their own tags', async () => {
    const token = readProjectToken(await projectToken({ scope: 'build cache:write' }));
    const session = { token, buildID: 'b1', savedRepository: () => 'localhost:5001/builds/web' };
    const depot = parseArgs('bake', ['--save']).depot;
    const worker = parsePrint(PRINT).filter((t) => t.name === 'worker');
    const inline = bakeSets({ targets: worker, session, depot, append: true });
    expect(inline.savePass).toBe(false);
    expect(inline.save).toEqual([
      '--set',
      'worker.output=type=image,"name=localhost:5001/builds/web:b1-worker",push=true',
    ]);
    expect(bakeSets({ targets: worker, session, depot, append: true, routed: true }).savePass).toBe(true);
    const both = bakeSets({ targets: parsePrint(PRINT), session, depot, append: true });
    expect(both.savePass).toBe(true);
    expect(both.save.slice(0, 2)).toEqual(['--set', 'app.tags=']);
  });

  it('recognizes remote bake definitions', () => {
    expect(isRemoteSource('https://github.com/acme/web.git#main')).toBe(true);
    expect(isRemoteSource('git@github.com:acme/web.git')).toBe(true);
    expect(isRemoteSource('app')).toBe(false);
  });
});
