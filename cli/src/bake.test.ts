import { describe, expect, it } from 'vitest';
import { projectToken } from '../test/tokens';
import { bakeSets, isRemoteSource, parsePrint } from './bake';
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
    expect(sets).toEqual([
      '--set',
      'app.cache-from+=type=registry,ref=localhost:5001/cache/web:app',
      '--set',
      'worker.cache-from+=type=registry,ref=localhost:5001/cache/web:worker',
    ]);
  });

  it('saves targets without their own outputs, and refuses one that has tags', async () => {
    const token = readProjectToken(await projectToken({ scope: 'build cache:write' }));
    const session = { token, buildID: 'b1', savedRepository: () => 'localhost:5001/builds/web' };
    const depot = parseArgs('bake', ['--save']).depot;
    const worker = parsePrint(PRINT).filter((t) => t.name === 'worker');
    expect(bakeSets({ targets: worker, session, depot, append: true })).toContain(
      'worker.output=type=image,"name=localhost:5001/builds/web:b1-worker",push=true',
    );
    expect(() => bakeSets({ targets: parsePrint(PRINT), session, depot, append: true })).toThrow(
      'cannot save target "app", which has its own tags or outputs',
    );
  });

  it('recognizes remote bake definitions', () => {
    expect(isRemoteSource('https://github.com/acme/web.git#main')).toBe(true);
    expect(isRemoteSource('git@github.com:acme/web.git')).toBe(true);
    expect(isRemoteSource('app')).toBe(false);
  });
});
