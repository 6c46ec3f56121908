import { describe, expect, it } from 'vitest';
import { projectToken } from '../test/tokens';
import { readProjectToken } from './token';

describe('readProjectToken', () => {
  it('reads project, scope and the cache repository', async () => {
    const t = readProjectToken(await projectToken({ scope: 'build cache:read' }));
    expect(t.project).toBe('web');
    expect([...t.scopes]).toEqual(['build', 'cache:read']);
    expect(t.cache).toEqual({ host: 'localhost:5001', repository: 'cache/web' });
    expect(t.isolated).toBe(false);
  });

  it('gives an isolated token no cache even if a cache claim were present', async () => {
    const t = readProjectToken(
      await projectToken({ isolated: true, scope: 'build', cache: 'localhost:5001/cache/web' }),
    );
    expect(t.isolated).toBe(true);
    expect(t.cache).toBeUndefined();
  });

  it.each([
    [{ expiresIn: -60 }, 'expired at'],
    [{ typ: 'JWT' }, 'is not a depot project token (its header typ is "JWT", expected'],
    [{ project: '' }, 'its project claim is missing or not a project id'],
    [{ cache: 'nohost' }, 'its cache claim is not <registry host>/<repository>'],
  ])('refuses %j before anything runs, without echoing the token', async (opts, message) => {
    const raw = await projectToken(opts);
    let msg = '';
    try {
      readProjectToken(raw);
    } catch (err: unknown) {
      msg = err instanceof Error ? err.message : String(err);
    }
    expect(msg).toContain(message);
    expect(msg).not.toContain(raw.split('.')[2]);
  });

  it('refuses something that is not a JWT', () => {
    expect(() => readProjectToken('hunter2-not-a-jwt')).toThrow('is not a JWT');
  });
});
