import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectToken } from '../test/tokens';
import { resolveProject } from './project';
import { readProjectToken } from './token';

function tree(): { root: string; ctx: string } {
  const root = mkdtempSync(join(tmpdir(), 'depot-project-'));
  writeFileSync(join(root, 'depot.json'), '{"id":"fromfile"}');
  const ctx = join(root, 'a', 'b');
  mkdirSync(ctx, { recursive: true });
  return { root, ctx };
}

describe('resolveProject', () => {
  it('prefers --project, then DEPOT_PROJECT_ID, then depot.json found upward', () => {
    const { ctx } = tree();
    expect(resolveProject({ flag: 'flag', env: { DEPOT_PROJECT_ID: 'env' }, searchFrom: ctx }).id).toBe(
      'flag',
    );
    expect(resolveProject({ env: { DEPOT_PROJECT_ID: 'env' }, searchFrom: ctx }).id).toBe('env');
    expect(resolveProject({ env: {}, searchFrom: ctx }).id).toBe('fromfile');
  });

  it("falls back to the token's project", async () => {
    const token = readProjectToken(await projectToken({ project: 'web' }));
    expect(resolveProject({ env: {}, token })).toEqual({ id: 'web', source: 'the token' });
  });

  it('refuses a project that differs from the token before anything runs', async () => {
    const token = readProjectToken(await projectToken({ project: 'web' }));
    const { ctx } = tree();
    expect(() => resolveProject({ env: {}, searchFrom: ctx, token })).toThrow(
      /The project token is for project "web", but .*depot.json names "fromfile"/,
    );
    expect(() => resolveProject({ flag: 'api', env: {}, token })).toThrow('but --project names "api"');
  });

  it('refuses an invalid project id', () => {
    expect(() => resolveProject({ flag: '../x', env: {} })).toThrow('is not a valid project id');
  });
});
