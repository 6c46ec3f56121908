import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../test/support/ports';
import { projectToken } from '../test/tokens';
import { EXIT_UNAVAILABLE, UserError } from './errors';
import { cacheFlags, cacheKey, probeCache } from './cache';
import { readProjectToken } from './token';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<number> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

describe('cacheFlags', () => {
  it.each([
    ['build cache:read cache:write', true, true],
    ['build cache:read', true, false],
    ['build', false, false],
  ])('scope %s: import %s, export %s', async (scope, from, to) => {
    const flags = cacheFlags(readProjectToken(await projectToken({ scope })), cacheKey('app'));
    expect(flags.cacheFrom).toBe(from ? 'type=registry,ref=localhost:5001/cache/web:app' : undefined);
    expect(flags.cacheTo).toBe(
      to ? 'type=registry,ref=localhost:5001/cache/web:app,mode=max,ignore-error=true' : undefined,
    );
  });

  it('gives an isolated token and no token no cache at all', async () => {
    expect(
      cacheFlags(readProjectToken(await projectToken({ isolated: true, scope: 'build' })), 'default'),
    ).toEqual({});
    expect(cacheFlags(undefined, 'default')).toEqual({});
  });

  it('makes tag-safe keys per target', () => {
    expect(cacheKey(undefined)).toBe('default');
    expect(cacheKey('web/api')).toBe('web-api');
  });

  it('takes --cache-key over the target, as a prefix <key>-<target> when a bake builds several', () => {
    expect(cacheKey(undefined, 'web')).toBe('web');
    expect(cacheKey('prod', 'images/web')).toBe('images-web');
    expect(cacheKey('prod', '.web', true)).toBe('web-prod');
    expect(cacheKey('app', 'web', true)).toBe('web-app');
    expect(cacheKey(undefined, '')).toBe('default');
  });

  it('cuts a long key to 128 characters, keeping the targets of a bake apart', () => {
    const long = 'k'.repeat(200);
    expect(cacheKey(undefined, long)).toBe('k'.repeat(128));
    const app = cacheKey('app', long, true);
    expect(app).toBe(`${'k'.repeat(124)}-app`);
    expect(cacheKey('worker', long, true)).toBe(`${'k'.repeat(121)}-worker`);
    expect(cacheKey('t'.repeat(100), long, true)).toBe(`${'k'.repeat(64)}-${'t'.repeat(63)}`);
  });
});

describe('probeCache', () => {
  it('exits 69 when the cache registry cannot be reached, after 2 tries', async () => {
    const port = await freePort();
    const token = readProjectToken(await projectToken({ cache: `127.0.0.1:${port}/cache/web` }));
    const err = await probeCache(token).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(EXIT_UNAVAILABLE);
    expect((err as UserError).message).toContain(`The cache registry 127.0.0.1:${port} cannot be reached`);
  });

  it("asks the registry's token service with the project token and exits 69 when it is down", async () => {
    const brokerPort = await freePort();
    const port = await listen((_req, res) => {
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="http://127.0.0.1:${brokerPort}/v2/token",service="depot-cache"`,
      });
      res.end();
    });
    const token = readProjectToken(await projectToken({ cache: `127.0.0.1:${port}/cache/web` }));
    const err = (await probeCache(token).catch((e: unknown) => e)) as UserError;
    expect(err.exitCode).toBe(EXIT_UNAVAILABLE);
    expect(err.message).toContain('token service');
  });

  it('passes when the token service grants, and refuses in one line (no token echoed) when it does not', async () => {
    const seen: string[] = [];
    let status = 200;
    const brokerPort = await listen((req, res) => {
      seen.push(`${req.url} ${req.headers.authorization ?? ''}`);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end('{"token":"t"}');
    });
    const port = await listen((_req, res) => {
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="http://127.0.0.1:${brokerPort}/v2/token",service="depot-cache"`,
      });
      res.end();
    });
    const raw = await projectToken({ cache: `127.0.0.1:${port}/cache/web` });
    const token = readProjectToken(raw);
    await probeCache(token);
    expect(seen[0]).toContain('service=depot-cache&scope=repository%3Acache%2Fweb%3Apull');
    expect(seen[0]).toContain(`Basic ${Buffer.from(`depot:${raw}`).toString('base64')}`);
    status = 401;
    const err = (await probeCache(token).catch((e: unknown) => e)) as UserError;
    expect(err.exitCode).toBe(1);
    expect(err.message).toContain('refused the project token');
    expect(err.message).not.toContain(raw);
  });
});
